//go:build linux

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/rowflux/rowflux/plugins/common/servicetest"
	"github.com/rowflux/rowflux/sdk"
)

// envUpdateScreenshot makes TestDashboardInChromium refresh the README's
// dashboard.png from the screenshot it takes.
const envUpdateScreenshot = "ROWFLUX_UPDATE_SCREENSHOT"

// TestDashboardInChromium opens the dashboard in a real headless Chromium
// while the test writes batches every 100 ms, and checks through the
// DevTools protocol that the page charts live series.
func TestDashboardInChromium(t *testing.T) {
	chromium := servicetest.Binary(t, "chromium")
	const token = "wall-screen"
	w := start(t, nil, func(w *WebSocket) { w.AuthToken = token })

	// Five series in two measurements, with values that move.
	regions := []string{"emea", "americas", "apac"}
	services := []string{"checkout", "search"}
	const series = 5
	events := func(at time.Time) sdk.Batch {
		x := float64(at.UnixMilli()) / 1000
		var b sdk.Batch
		for i, r := range regions {
			b = append(b, sdk.Event{
				Name: "sales", Op: sdk.OpInsert,
				Tags: []sdk.Tag{{Key: "region", Value: r}},
				Fields: []sdk.Field{
					{Key: "revenue_eur", Value: 12000 + 4000*float64(i) + 2500*math.Sin(x/23+float64(i)) + 600*math.Sin(x/3.7)},
					{Key: "orders", Value: int64(180 + 40*i + int(30*math.Cos(x/17)))},
					{Key: "channel", Value: "web"},
				},
				Time: at,
			})
		}
		for i, s := range services {
			b = append(b, sdk.Event{
				Name: "latency",
				Tags: []sdk.Tag{{Key: "service", Value: s}},
				Fields: []sdk.Field{
					{Key: "p95_ms", Value: 42 + 30*float64(i) + 9*math.Sin(x/11+float64(i)*2) + 3*math.Sin(x*1.3)},
					{Key: "p99_ms", Value: 80 + 45*float64(i) + 15*math.Sin(x/13)},
					{Key: "errors", Value: int64(math.Max(0, 3*math.Sin(x/29)))},
				},
				Time: at,
			})
		}
		return b
	}

	// The writer: a live batch every 100 ms; once the page is connected, one
	// batch with five minutes of history so the charts fill their window.
	var backfill atomic.Bool
	var written atomic.Int64
	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				if backfill.CompareAndSwap(true, false) {
					var b sdk.Batch
					for at := now.Add(-5 * time.Minute); at.Before(now.Add(-time.Second)); at = at.Add(2 * time.Second) {
						b = append(b, events(at)...)
					}
					if err := w.Write(context.Background(), b); err != nil {
						t.Errorf("backfill: %v", err)
						return
					}
				}
				if err := w.Write(context.Background(), events(now)); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				written.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); writer.Wait() })

	cdp := launchChromium(t, chromium, "http://"+w.Addr()+"/?token="+token)

	// Poll the live DOM, as --dump-dom would print it, until the page has
	// seen every series and keeps receiving points.
	statsRe := regexp.MustCompile(`<div id="stats"[^>]*>`)
	attr := func(tag, name string) string {
		m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil {
			return ""
		}
		return m[1]
	}
	type stats struct {
		points, series, messages int
		status                   string
	}
	poll := func() stats {
		var dom string
		cdp.eval(t, "document.documentElement.outerHTML", &dom)
		tag := statsRe.FindString(dom)
		var s stats
		if tag == "" {
			s.status = "page not loaded"
			return s
		}
		s.points, _ = strconv.Atoi(attr(tag, "data-points"))
		s.series, _ = strconv.Atoi(attr(tag, "data-series"))
		s.messages, _ = strconv.Atoi(attr(tag, "data-messages"))
		s.status = attr(tag, "data-status")
		return s
	}
	waitStats := func(what string, ok func(stats) bool) stats {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			s := poll()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: page stats %+v", what, s)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	first := waitStats("the page to connect and show every series", func(s stats) bool {
		return s.status == "connected" && s.series == series && s.points >= series
	})
	backfill.Store(true)
	// 40 more live messages (4 s of writes) after the first observation.
	live := waitStats("live updates", func(s stats) bool {
		return s.messages >= first.messages+40 && s.points >= first.points+40*series
	})
	if live.series != series {
		t.Errorf("page shows %d series, want %d", live.series, series)
	}
	var legendRows, cards int
	cdp.eval(t, "document.querySelectorAll('tbody tr').length", &legendRows)
	cdp.eval(t, "document.querySelectorAll('section.card canvas').length", &cards)
	if legendRows != series || cards != 2 {
		t.Errorf("page has %d legend rows and %d charts, want %d and 2", legendRows, cards, series)
	}
	var status string
	cdp.eval(t, "document.getElementById('status').textContent", &status)
	if status != "connected" {
		t.Errorf("status shows %q", status)
	}
	t.Logf("page stats: first %+v, later %+v; %d batches written", first, live, written.Load())

	// Let the history batch render, then take a screenshot.
	time.Sleep(1500 * time.Millisecond)
	img := cdp.screenshot(t)
	file := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Fatal(err)
	}
	checkNotBlank(t, img)
	if os.Getenv(envUpdateScreenshot) == "1" {
		if err := os.WriteFile("dashboard.png", img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("dashboard.png updated (%d bytes)", len(img))
	}
}

// checkNotBlank decodes the PNG and requires visible variation: a blank or
// single-colour page fails.
func checkNotBlank(t *testing.T, img []byte) {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := m.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot is %dx%d", b.Dx(), b.Dy())
	}
	var n, sum, sumSq float64
	colours := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := m.At(x, y).RGBA()
			l := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 257
			n++
			sum += l
			sumSq += l * l
			colours[(r>>11)<<10|(g>>11)<<5|bl>>11] = true
		}
	}
	mean := sum / n
	sd := math.Sqrt(sumSq/n - mean*mean)
	t.Logf("screenshot %dx%d, %d bytes: mean luminance %.1f, stddev %.1f, %d colours", b.Dx(), b.Dy(), len(img), mean, sd, len(colours))
	if sd < 4 || len(colours) < 20 {
		t.Errorf("screenshot looks blank: luminance stddev %.1f, %d colours", sd, len(colours))
	}
}

// cdpClient speaks the Chrome DevTools Protocol to one page over a
// WebSocket, one command at a time.
type cdpClient struct {
	conn *gws.Conn
	id   int
}

func (c *cdpClient) call(t *testing.T, method string, params any, result any) {
	t.Helper()
	c.id++
	if err := c.conn.WriteJSON(map[string]any{"id": c.id, "method": method, "params": params}); err != nil {
		t.Fatalf("cdp %s: %v", method, err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := c.conn.ReadJSON(&msg); err != nil {
			t.Fatalf("cdp %s: %v", method, err)
		}
		if msg.ID != c.id {
			continue // an event
		}
		if msg.Error != nil {
			t.Fatalf("cdp %s: %s", method, msg.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(msg.Result, result); err != nil {
				t.Fatalf("cdp %s: %v", method, err)
			}
		}
		return
	}
}

func (c *cdpClient) eval(t *testing.T, expr string, out any) {
	t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	c.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluate %s: %s", expr, r.ExceptionDetails.Text)
	}
	if err := json.Unmarshal(r.Result.Value, out); err != nil {
		t.Fatalf("evaluate %s: %v (%s)", expr, err, r.Result.Value)
	}
}

func (c *cdpClient) screenshot(t *testing.T) []byte {
	t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	c.call(t, "Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	img, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// launchChromium starts headless Chromium on url with remote debugging on a
// free port, and connects to the page. Chromium and every process it forks
// are killed when the test ends.
func launchChromium(t *testing.T, chromium, url string) *cdpClient {
	t.Helper()
	profile, err := os.MkdirTemp("", "rowflux-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-default-apps", "--no-first-run", "--no-default-browser-check",
		"--mute-audio", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--window-size=1600,1000", "--user-data-dir="+profile, "--remote-debugging-port=0",
		url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group to kill as one
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logsMu sync.Mutex
	endpoint := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logsMu.Lock()
			logs.WriteString(line + "\n")
			logsMu.Unlock()
			if rest, ok := strings.CutPrefix(line, "DevTools listening on "); ok {
				select {
				case endpoint <- rest:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		// No process of this profile may survive the test.
		deadline := time.Now().Add(15 * time.Second)
		for {
			left := processesWith(cmd.Process.Pid, profile)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("chromium processes left behind: %v", left)
				break
			}
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = os.RemoveAll(profile)
	})

	var browserWS string
	select {
	case browserWS = <-endpoint:
	case <-time.After(60 * time.Second):
		logsMu.Lock()
		defer logsMu.Unlock()
		t.Fatalf("chromium did not open its DevTools endpoint within 60s:\n%s", logs.String())
	}
	// ws://127.0.0.1:PORT/devtools/browser/ID → the page's own endpoint.
	host := strings.TrimPrefix(browserWS, "ws://")
	host, _, _ = strings.Cut(host, "/")
	var pageWS string
	deadline := time.Now().Add(60 * time.Second)
	for pageWS == "" {
		resp, err := http.Get("http://" + host + "/json/list")
		if err == nil {
			var targets []struct {
				Type, URL            string
				WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
			}
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" && strings.HasPrefix(tg.URL, url) {
					pageWS = tg.WebSocketDebuggerURL
				}
			}
		}
		if pageWS == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no DevTools target for %s (%v)", url, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	conn, _, err := (&gws.Dialer{HandshakeTimeout: 30 * time.Second}).Dial(pageWS, nil)
	if err != nil {
		t.Fatalf("connect to DevTools: %v", err)
	}
	conn.SetReadLimit(-1)
	t.Cleanup(func() { conn.Close() })
	return &cdpClient{conn: conn}
}

// processesWith lists the live processes (zombies aside: they hold nothing
// and their reaping is up to init) in process group pgid or whose command
// line mentions s.
func processesWith(pgid int, s string) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may contain spaces.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if f[2] == strconv.Itoa(pgid) || bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
