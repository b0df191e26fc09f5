package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/servicetest"
)

// EnvBin names the variable that points at a directory holding initdb and
// postgres, for machines where they are neither on PATH nor under
// /usr/lib/postgresql.
const EnvBin = "ROWFLUX_PG_BIN"

// startTimeout bounds a start: after an immediate stop the server replays
// its WAL before it accepts connections, which is slow on a loaded machine.
const startTimeout = 60 * time.Second

// StopMode is how a Cluster is stopped, named after pg_ctl's -m.
type StopMode string

const (
	// Fast (SIGINT) rolls back open transactions, terminates every
	// session and writes a shutdown checkpoint: a clean restart.
	Fast StopMode = "fast"
	// Immediate (SIGQUIT) ends every process at once, as a crash does;
	// the next start runs crash recovery.
	Immediate StopMode = "immediate"
)

func (m StopMode) signal() (syscall.Signal, error) {
	switch m {
	case Fast:
		return syscall.SIGINT, nil
	case Immediate:
		return syscall.SIGQUIT, nil
	}
	return 0, fmt.Errorf("stop mode %q: want %q or %q", m, Fast, Immediate)
}

// Cluster is a private PostgreSQL server for tests that must stop, crash
// or restart the database: the shared server of DB is not theirs to stop.
// It listens on a free loopback port (kept across restarts, so clients
// reconnect to the same address) with trust authentication and fsync off,
// and its data, socket and log live in a temporary directory.
type Cluster struct {
	dir  string // data/ and the unix socket
	bin  string // directory holding initdb and postgres
	port int
	// cred runs the server as the postgres OS user when the test runs as
	// root, which PostgreSQL refuses; nil runs it as the current user.
	cred *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	log    servicetest.Output
}

// NewCluster initialises and starts a cluster for t; it is stopped
// (immediately: nothing in it needs to survive) and removed when t ends.
// Without the server binaries the test is skipped, or fails under
// ROWFLUX_REQUIRE_SERVICES=1.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, why := serverBin()
	if bin == "" {
		servicetest.Missing(t, "PostgreSQL server binaries", why)
		return nil
	}
	cred, err := serverCredential()
	if err != nil {
		servicetest.Missing(t, "PostgreSQL server binaries", err.Error())
		return nil
	}
	c, err := newCluster(bin, cred)
	if c != nil {
		t.Cleanup(c.close)
	}
	if err != nil {
		log := ""
		if c != nil {
			log = c.Log()
		}
		t.Fatalf("pgtest: %v\n%s", err, log)
	}
	return c
}

// serverBin finds the directory of initdb and postgres, or says why not.
func serverBin() (string, string) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBin); dir != "" {
		if has(dir) {
			return dir, ""
		}
		return "", fmt.Sprintf("%s=%s holds no initdb and postgres", EnvBin, dir)
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), ""
	}
	// Debian and Ubuntu keep them off PATH, one directory per major
	// version: take the newest.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if has(d) {
			return d, ""
		}
	}
	return "", fmt.Sprintf("initdb and postgres are not on PATH nor in /usr/lib/postgresql/*/bin; set %s", EnvBin)
}

func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: no postgres user to run it as (%v)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func newCluster(bin string, cred *syscall.Credential) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "rowflux-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, cred: cred}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return c, err
		}
	}
	initdb := c.command(filepath.Join(bin, "initdb"), "-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return c, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if c.port, err = servicetest.RestartablePort(); err != nil {
		return c, err
	}
	// fsync off: a crash here is a process crash, never the machine's, so
	// the OS still holds every write and nothing committed is lost.
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 60
log_min_messages = warning
log_line_prefix = '%%m [%%p] '
`, c.port, dir)
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return c, err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return c, err
	}
	return c, c.Start()
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// command runs name as the server's user, from the cluster's directory
// (root's home is not readable by that user).
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.cred,
		// An immediate shutdown if the test binary dies without its
		// cleanup (a timeout panic), so no server outlives the run.
		Pdeathsig: syscall.SIGQUIT,
	}
	return cmd
}

// Port is the server's TCP port on 127.0.0.1; it stays the same across
// restarts.
func (c *Cluster) Port() int { return c.port }

// Addr is "127.0.0.1:PORT".
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// DSN is the URL of database postgres as superuser postgres, over TCP.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", c.Addr())
}

// DB creates a fresh database in the cluster and returns its DSN. It goes
// with the cluster; nothing drops it earlier.
func (c *Cluster) DB(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "rowflux_test_" + hex.EncodeToString(b[:])
	Exec(t, c.DSN(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	dsn, err := withDatabase(c.DSN(), name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// Start starts the server and waits until it accepts connections (after
// crash recovery, following an immediate stop). Starting a running
// cluster is an error.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("pgtest: the cluster is already running")
	}
	fmt.Fprintf(&c.log, "--- pgtest: starting postgres at %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := c.command(filepath.Join(c.bin, "postgres"), "-D", c.dataDir())
	cmd.Stdout, cmd.Stderr = &c.log, &c.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited

	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); {
		select {
		case <-exited:
			c.cmd = nil
			return fmt.Errorf("pgtest: postgres exited during start-up (%v); is port %d taken?", cmd.ProcessState, c.port)
		default:
		}
		if c.ready() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.stopLocked(syscall.SIGQUIT)
	return fmt.Errorf("pgtest: postgres did not accept connections on %s within %s", c.Addr(), startTimeout)
}

// ready reports whether a session can be opened and run a query: the
// postmaster refuses sessions while it recovers.
func (c *Cluster) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN())
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx) == nil
}

// Stop stops the server in mode and waits until every one of its
// processes has ended, so that the port is free and a Start can follow.
// Stopping a stopped cluster does nothing.
func (c *Cluster) Stop(mode StopMode) error {
	sig, err := mode.signal()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(sig)
}

func (c *Cluster) stopLocked(sig syscall.Signal) error {
	if c.cmd == nil {
		return nil
	}
	c.cmd.Process.Signal(sig)
	var err error
	select {
	case <-c.exited:
	case <-time.After(startTimeout):
		// A shutdown checkpoint that does not finish in a minute is a
		// stuck server: end it as a crash would.
		c.cmd.Process.Signal(syscall.SIGQUIT)
		<-c.exited
		err = fmt.Errorf("pgtest: postgres did not stop on %v within %s; stopped immediately", sig, startTimeout)
	}
	fmt.Fprintf(&c.log, "--- pgtest: postgres stopped by %v at %s\n", sig, time.Now().Format(time.RFC3339Nano))
	c.cmd = nil
	return err
}

// Restart stops the server in mode, keeps it down for down, and starts it
// again.
func (c *Cluster) Restart(mode StopMode, down time.Duration) error {
	if err := c.Stop(mode); err != nil {
		return err
	}
	time.Sleep(down)
	return c.Start()
}

// Running reports whether the server has been started and not stopped.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd != nil
}

// Log is what the server printed, across all its starts, with a line per
// start and stop.
func (c *Cluster) Log() string { return c.log.String() }

func (c *Cluster) close() {
	c.Stop(Immediate)
	os.RemoveAll(c.dir)
}
