package bench

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/agent/workload"
)

// Config is a bench run: one source, one workload, the strategies to
// compare. Load it with LoadConfig or ParseConfig, which fill the defaults
// and validate it.
type Config struct {
	DSN          string // [source] dsn: sqlite://PATH, postgres://… or oracle://…
	Workload     WorkloadConfig
	Strategies   []string      // in run order, as written (Oracle: rowscn, cqn or their aliases); default: every strategy the source supports
	Repeat       int           // full rounds (baseline + every strategy); default 1
	PollInterval time.Duration // the inputs' poll_interval; default 1s
}

// WorkloadConfig is the [workload] table: what every phase runs.
type WorkloadConfig struct {
	Rate        float64       // commits/s over all writers; default workload.DefaultRate
	Duration    time.Duration // timed run per phase; default 10s
	Warmup      time.Duration // untimed run before it, with capture running; default 2s, 0 = none
	Writers     int           // default 1
	Mix         [3]int        // insert, update, delete weights; default 60, 30, 10
	LongTxEvery int           // 0 = no long transactions
	LongTxHold  time.Duration
	Seed        int64 // default 1
	Preload     int   // rows inserted before the first (warm-up or timed) run
}

// Strategies the bench knows, in the order a default run uses.
var allStrategies = []string{"polling", "trigger", "commit_order", "notify"}

// sqliteStrategies are those inputs.sqlite supports (DESIGN.md: SQLite
// refuses commit_order).
var sqliteStrategies = []string{"polling", "trigger", "notify"}

// oracleStrategies are inputs.oracle's names for the four strategies, the
// default order of an Oracle run. inputs.oracle also accepts the generic
// names commit_order and notify for rowscn and cqn (oracleAliases).
var oracleStrategies = []string{"polling", "trigger", "rowscn", "cqn"}

var oracleAliases = map[string]string{"commit_order": "rowscn", "notify": "cqn"}

// rawConfig is the TOML shape. Durations are strings parsed by validate,
// so that a bad one is reported with its key rather than as a decoder
// error about a line number.
type rawConfig struct {
	Source struct {
		DSN string `toml:"dsn"`
	} `toml:"source"`
	Workload struct {
		Rate        *float64 `toml:"rate"`
		Duration    string   `toml:"duration"`
		Warmup      *string  `toml:"warmup"`
		Writers     *int     `toml:"writers"`
		Mix         []int    `toml:"mix"`
		LongTxEvery int      `toml:"long_tx_every"`
		LongTxHold  string   `toml:"long_tx_hold"`
		Seed        *int64   `toml:"seed"`
		Preload     int      `toml:"preload"`
	} `toml:"workload"`
	Strategies   []string `toml:"strategies"`
	Repeat       *int     `toml:"repeat"`
	PollInterval string   `toml:"poll_interval"`
}

// LoadConfig reads and validates a bench config file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("bench config: %w", err)
	}
	cfg, err := ParseConfig(string(b))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes and validates a bench config. Unknown keys are
// errors (a misspelt key would otherwise silently bench the default).
func ParseConfig(text string) (Config, error) {
	var raw rawConfig
	md, err := toml.Decode(text, &raw)
	if err != nil {
		return Config{}, fmt.Errorf("bench config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = fmt.Sprintf("%q", k.String())
		}
		return Config{}, fmt.Errorf("bench config: unknown key %s", strings.Join(keys, ", "))
	}
	return raw.validate()
}

func (raw *rawConfig) validate() (Config, error) {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("bench config: %s: %s", key, fmt.Sprintf(format, a...))
	}
	dur := func(key, s string, def time.Duration, allowZero bool) (time.Duration, error) {
		if s == "" {
			return def, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad(key, `invalid duration %q (examples: "500ms", "10s", "1m")`, s)
		}
		if d < 0 || d == 0 && !allowZero {
			return 0, bad(key, "must be greater than 0, got %s", s)
		}
		return d, nil
	}
	var cfg Config
	var err error

	cfg.DSN = raw.Source.DSN
	src, err := sourceKind(cfg.DSN)
	if err != nil {
		return Config{}, bad("source.dsn", "%v", err)
	}

	w, rw := &cfg.Workload, &raw.Workload
	w.Rate = workload.DefaultRate
	if rw.Rate != nil {
		w.Rate = *rw.Rate
	}
	if w.Rate <= 0 || math.IsNaN(w.Rate) || math.IsInf(w.Rate, 0) {
		// An unpaced run measures how fast the source can go, not what a
		// strategy costs at a given load: not a comparison across phases.
		return Config{}, bad("workload.rate", "must be greater than 0, got %v", w.Rate)
	}
	if w.Duration, err = dur("workload.duration", rw.Duration, 10*time.Second, false); err != nil {
		return Config{}, err
	}
	warm := ""
	if rw.Warmup != nil {
		warm = *rw.Warmup
		if warm == "" {
			return Config{}, bad("workload.warmup", `invalid duration "" (use "0s" for no warm-up)`)
		}
	}
	if w.Warmup, err = dur("workload.warmup", warm, 2*time.Second, true); err != nil {
		return Config{}, err
	}
	w.Writers = 1
	if rw.Writers != nil {
		w.Writers = *rw.Writers
	}
	if w.Writers < 1 {
		return Config{}, bad("workload.writers", "must be at least 1, got %d", w.Writers)
	}
	w.Mix = [3]int{60, 30, 10}
	if rw.Mix != nil {
		if len(rw.Mix) != 3 || slices.Min(rw.Mix) < 0 || rw.Mix[0]+rw.Mix[1]+rw.Mix[2] == 0 {
			return Config{}, bad("workload.mix", "want three non-negative weights [insert, update, delete], not all 0, e.g. [60, 30, 10]; got %v", rw.Mix)
		}
		w.Mix = [3]int(rw.Mix)
	}
	if w.LongTxEvery = rw.LongTxEvery; w.LongTxEvery < 0 {
		return Config{}, bad("workload.long_tx_every", "must be 0 (none) or more, got %d", w.LongTxEvery)
	}
	if w.LongTxHold, err = dur("workload.long_tx_hold", rw.LongTxHold, 0, true); err != nil {
		return Config{}, err
	}
	if w.LongTxEvery > 0 && w.LongTxHold == 0 {
		return Config{}, bad("workload.long_tx_hold", "must be set when long_tx_every is (how long a long transaction stays open)")
	}
	w.Seed = 1
	if rw.Seed != nil {
		w.Seed = *rw.Seed
	}
	if w.Preload = rw.Preload; w.Preload < 0 {
		return Config{}, bad("workload.preload", "must be 0 or more, got %d", w.Preload)
	}
	if w.Preload > 0 && w.Warmup == 0 {
		// The preload goes into the first run; without a warm-up that is
		// the timed run, whose capture figures would then measure the
		// agent working through the preload backlog.
		return Config{}, bad("workload.preload", "needs workload.warmup: the preloaded rows are written and captured during the warm-up")
	}

	if cfg.Strategies, err = strategies(src, raw.Strategies); err != nil {
		return Config{}, err
	}
	cfg.Repeat = 1
	if raw.Repeat != nil {
		cfg.Repeat = *raw.Repeat
	}
	if cfg.Repeat < 1 {
		return Config{}, bad("repeat", "must be at least 1, got %d", cfg.Repeat)
	}
	if cfg.PollInterval, err = dur("poll_interval", raw.PollInterval, time.Second, false); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// strategies validates the strategies key for source src; nil means the
// default, every strategy src supports.
func strategies(src string, names []string) ([]string, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("bench config: strategies: %s", fmt.Sprintf(format, a...))
	}
	supported := allStrategies
	switch src {
	case "sqlite":
		supported = sqliteStrategies
	case "oracle":
		supported = oracleStrategies
	}
	if names == nil {
		return slices.Clone(supported), nil
	}
	if len(names) == 0 {
		return nil, bad("empty: name at least one of %s", strings.Join(supported, ", "))
	}
	var out []string
	seen := map[string]string{} // canonical name → name as written
	for _, s := range names {
		canon := s
		if src == "oracle" {
			if o, ok := oracleAliases[s]; ok {
				canon = o
			}
		}
		switch {
		case src == "oracle" && !slices.Contains(oracleStrategies, canon):
			return nil, bad("unknown strategy %q (want polling, trigger, rowscn or its alias commit_order, cqn or its alias notify)", s)
		case src != "oracle" && !slices.Contains(allStrategies, s):
			if slices.Contains(oracleStrategies, s) {
				return nil, bad("%s is Oracle's; %s supports %s", s, src, strings.Join(supported, ", "))
			}
			return nil, bad("unknown strategy %q (want %s)", s, strings.Join(allStrategies, ", "))
		case !slices.Contains(supported, canon):
			return nil, bad("%s is not available on %s (it supports %s)", s, src, strings.Join(supported, ", "))
		case seen[canon] == s:
			return nil, bad("%s is listed twice", s)
		case seen[canon] != "":
			return nil, bad("%s and %s are the same strategy on oracle", seen[canon], s)
		}
		seen[canon] = s
		out = append(out, s)
	}
	return out, nil
}

const wantDSN = "want sqlite://PATH, postgres://USER@HOST/DATABASE or oracle://USER:PASSWORD@HOST:PORT/SERVICE"

// sourceKind is the input plugin for dsn's scheme.
func sourceKind(dsn string) (string, error) {
	if dsn == "" {
		return "", errors.New("missing: " + wantDSN)
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		// Not echoed: a DSN can carry a password.
		return "", errors.New("no scheme: " + wantDSN)
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		if rest == "" {
			return "", errors.New("sqlite:// needs a file path")
		}
		return "sqlite", nil
	case "postgres", "postgresql":
		return "postgres", nil
	case "oracle":
		// Checked further by the workload (go-ora's own parser) when the
		// baseline starts; here only what needs no driver, and never
		// echoed: the DSN carries a password.
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return "", errors.New("oracle DSN: want oracle://USER:PASSWORD@HOST:PORT/SERVICE, with special characters in the password %-escaped")
		}
		return "oracle", nil
	}
	return "", fmt.Errorf("unsupported scheme %q (the bench supports sqlite, postgres and oracle)", scheme)
}
