package processortest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cmdKind is one script command.
type cmdKind int

const (
	cmdConfig cmdKind = iota
	cmdConfigError
	cmdSend
	cmdTick
	cmdRestart
	cmdFinish
	cmdExpect
	cmdExpectNone
	cmdExpectCounter
	cmdExpectError
)

// bodyLine is one indented line under a command.
type bodyLine struct {
	line int
	text string
}

// command is one parsed script command with its body.
type command struct {
	kind cmdKind
	line int    // line number of the command
	text string // the command line as written
	body []bodyLine

	at      time.Duration // send at D / tick D
	hasAt   bool          // send had "at D"
	counter string        // expect counter NAME
	value   int64         // expect counter VALUE
	substr  string        // expect error "SUBSTR"
}

// takesBody reports whether a command accepts an indented body.
func (k cmdKind) takesBody() bool {
	switch k {
	case cmdConfig, cmdConfigError, cmdSend, cmdExpect:
		return true
	}
	return false
}

// rawBody reports whether a command's body is passed on verbatim (blank and
// comment lines included) rather than as a list of non-empty lines.
func (k cmdKind) rawBody() bool { return k == cmdConfig || k == cmdConfigError }

// parseScript splits a script into commands. Errors carry file:line.
func parseScript(file, script string) ([]*command, error) {
	var cmds []*command
	var cur *command
	lines := strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n")
	for i, raw := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(raw)
		indented := raw != "" && (raw[0] == ' ' || raw[0] == '\t')
		if indented {
			if cur == nil || !cur.kind.takesBody() {
				if trimmed == "" || strings.HasPrefix(trimmed, "#") {
					continue
				}
				if cur == nil {
					return nil, fmt.Errorf("%s:%d: indented line outside a command (commands start at column 0)", file, n)
				}
				return nil, fmt.Errorf("%s:%d: %q takes no indented body", file, n, cur.text)
			}
			var text string
			switch {
			case strings.HasPrefix(raw, "  "):
				text = raw[2:]
			case raw[0] == '\t':
				text = raw[1:]
			case trimmed == "":
				text = ""
			default:
				return nil, fmt.Errorf("%s:%d: body lines are indented by two spaces", file, n)
			}
			if !cur.kind.rawBody() {
				text = strings.TrimSpace(text)
				if text == "" || strings.HasPrefix(text, "#") {
					continue
				}
			}
			cur.body = append(cur.body, bodyLine{line: n, text: text})
			continue
		}
		if trimmed == "" {
			if cur != nil && cur.kind.rawBody() {
				cur.body = append(cur.body, bodyLine{line: n, text: ""})
			}
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		c, err := parseCommand(trimmed)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, n, err)
		}
		c.line = n
		c.text = trimmed
		cmds = append(cmds, c)
		cur = c
	}
	for _, c := range cmds {
		// Trailing blank lines of raw bodies are noise.
		for len(c.body) > 0 && strings.TrimSpace(c.body[len(c.body)-1].text) == "" {
			c.body = c.body[:len(c.body)-1]
		}
		switch c.kind {
		case cmdSend:
			if len(c.body) == 0 {
				return nil, fmt.Errorf("%s:%d: send needs at least one indented event line", file, c.line)
			}
		case cmdExpect:
			if len(c.body) == 0 {
				return nil, fmt.Errorf("%s:%d: expect needs indented event lines (write \"expect none\" for no output)", file, c.line)
			}
		}
	}
	return cmds, nil
}

// parseCommand parses one column-0 command line.
func parseCommand(s string) (*command, error) {
	word, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	switch word {
	case "config":
		switch rest {
		case "":
			return &command{kind: cmdConfig}, nil
		case "error":
			return &command{kind: cmdConfigError}, nil
		}
		return nil, fmt.Errorf("bad command %q (want \"config\" or \"config error\")", s)
	case "send":
		if rest == "" {
			return &command{kind: cmdSend}, nil
		}
		at, d, ok := strings.Cut(rest, " ")
		if !ok || at != "at" {
			return nil, fmt.Errorf("bad command %q (want \"send\" or \"send at DURATION\")", s)
		}
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("bad command %q: %v", s, err)
		}
		return &command{kind: cmdSend, at: dur, hasAt: true}, nil
	case "tick":
		dur, err := time.ParseDuration(rest)
		if err != nil {
			return nil, fmt.Errorf("bad command %q (want \"tick DURATION\", e.g. \"tick 21s\"): %v", s, err)
		}
		return &command{kind: cmdTick, at: dur}, nil
	case "restart", "finish":
		if rest != "" {
			return nil, fmt.Errorf("bad command %q (%s takes no arguments)", s, word)
		}
		if word == "restart" {
			return &command{kind: cmdRestart}, nil
		}
		return &command{kind: cmdFinish}, nil
	case "expect":
		sub, arg, _ := strings.Cut(rest, " ")
		arg = strings.TrimSpace(arg)
		switch sub {
		case "":
			return &command{kind: cmdExpect}, nil
		case "none":
			if arg != "" {
				return nil, fmt.Errorf("bad command %q (expect none takes no arguments)", s)
			}
			return &command{kind: cmdExpectNone}, nil
		case "counter":
			name, val, ok := strings.Cut(arg, " ")
			if !ok || name == "" {
				return nil, fmt.Errorf("bad command %q (want \"expect counter NAME VALUE\")", s)
			}
			v, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad command %q: counter value must be an integer", s)
			}
			return &command{kind: cmdExpectCounter, counter: name, value: v}, nil
		case "error":
			sub, err := strconv.Unquote(arg)
			if err != nil {
				return nil, fmt.Errorf("bad command %q (want expect error \"SUBSTRING\", quoted)", s)
			}
			return &command{kind: cmdExpectError, substr: sub}, nil
		}
		return nil, fmt.Errorf("bad command %q (want expect, expect none, expect counter NAME VALUE or expect error \"SUBSTRING\")", s)
	}
	return nil, fmt.Errorf("unknown command %q (want config, config error, send, tick, restart, finish or expect)", word)
}

// bodyText joins a raw body back into text.
func bodyText(body []bodyLine) string {
	var b strings.Builder
	for _, l := range body {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}
