package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/hostnet"
	"github.com/natsim/natsim/sim/push"
)

// pushdConfig is what natsim pushd's flags set.
type pushdConfig struct {
	listen          string
	keepAliveFactor float64
	offline         string
	offlineN        int
	ttl             time.Duration
	maxConns        int
	connectTimeout  time.Duration
	quiet           bool
}

// pushd is the built-in push server on the host network: the same
// event-driven push.Server as in simulations, on a wall-clock scheduler,
// with hostnet sockets.
type pushd struct {
	sched *sim.Scheduler
	srv   *push.Server
	ln    *hostnet.Listener
	log   io.Writer
	done  chan struct{}
}

// startPushd builds and starts the server; Stop ends it.
func startPushd(cfg pushdConfig, log io.Writer) (*pushd, error) {
	pol, err := push.ParseOfflinePolicy(cfg.offline)
	if err != nil {
		return nil, fmt.Errorf("--offline: %w", err)
	}
	if cfg.keepAliveFactor < 1 {
		return nil, fmt.Errorf("--keepalive-factor %g: must be at least 1", cfg.keepAliveFactor)
	}
	if cfg.maxConns < 1 {
		return nil, fmt.Errorf("--max-conns %d: must be at least 1", cfg.maxConns)
	}
	if cfg.connectTimeout <= 0 {
		return nil, fmt.Errorf("--connect-timeout %v: must be positive", cfg.connectTimeout)
	}
	d := &pushd{sched: sim.NewWallScheduler(), log: log, done: make(chan struct{})}
	sc := push.ServerConfig{
		RoutePublishes:  true,
		KeepAliveFactor: cfg.keepAliveFactor,
		Offline:         pol,
		OfflineLimit:    cfg.offlineN,
		DefaultTTL:      cfg.ttl,
		ConnectTimeout:  cfg.connectTimeout,
	}
	if !cfg.quiet {
		sc.Observer = push.ServerObserverFunc(d.event)
	}
	d.srv, err = push.NewServer(d.sched, sc)
	if err != nil {
		return nil, err
	}
	d.ln, err = hostnet.Listen(d.sched, cfg.listen, d.srv.AcceptConn, hostnet.Options{MaxConns: cfg.maxConns, MaxBuffered: d.srv.Config().SendBuffer})
	if err != nil {
		return nil, err
	}
	go func() {
		d.sched.Run()
		close(d.done)
	}()
	return d, nil
}

// Addr is the address the server listens on.
func (d *pushd) Addr() string { return d.ln.Addr().String() }

// event logs connections, disconnections and rejections with reasons.
func (d *pushd) event(ev push.ServerEvent) {
	ts := ev.Time.Format("15:04:05.000")
	switch ev.Kind {
	case push.ServerConnected:
		fmt.Fprintf(d.log, "%s connected client=%q remote=%s session_present=%v\n", ts, ev.ClientID, ev.Remote, ev.SessionPresent)
	case push.ServerDisconnected:
		fmt.Fprintf(d.log, "%s disconnected client=%q remote=%s reason=%s unacked=%d\n", ts, ev.ClientID, ev.Remote, ev.Reason, ev.Unacked)
	case push.ServerRejected:
		msg := ""
		if ev.Err != nil {
			msg = fmt.Sprintf(" err=%q", ev.Err.Error())
		}
		fmt.Fprintf(d.log, "%s rejected remote=%s reason=%s%s\n", ts, ev.Remote, ev.Reason, msg)
	case push.ServerDropped:
		fmt.Fprintf(d.log, "%s dropped client=%q msg=%d reason=%s\n", ts, ev.ClientID, ev.Msg, ev.Drop)
	}
}

// Stop stops accepting, closes every connection (reason stopped), and
// stops the scheduler. It returns the final counters.
func (d *pushd) Stop() push.ServerStats {
	d.ln.Close()
	stats := make(chan push.ServerStats, 1)
	d.sched.Post(func() {
		d.srv.Close()
		stats <- d.srv.Stats()
	})
	st := <-stats
	// Let the writers flush the FINs of the closed connections.
	time.Sleep(50 * time.Millisecond)
	d.sched.Stop()
	<-d.done
	return st
}

func cmdPushd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("pushd", "[--listen ADDR] [--keepalive-factor F] [--offline POLICY] [--max-conns N] [--connect-timeout D] [--quiet]", stderr)
	var cfg pushdConfig
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:1883", "address to listen on (port 0 picks a free port)")
	fs.Float64Var(&cfg.keepAliveFactor, "keepalive-factor", 1.5, "close a connection silent for this many times the client's Keep Alive")
	fs.StringVar(&cfg.offline, "offline", "keep-all", "offline store for persistent sessions: keep-all, keep-last or keep-n")
	fs.IntVar(&cfg.offlineN, "offline-n", 0, "stored messages per session for keep-all/keep-n (0: 10000 for keep-all, 100 for keep-n)")
	fs.DurationVar(&cfg.ttl, "ttl", 0, "time to live of stored messages (0: no expiry)")
	fs.IntVar(&cfg.maxConns, "max-conns", hostnet.DefaultMaxConns, "most open connections; more are reset")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", push.DefaultConnectTimeout, "close a connection that sends no CONNECT within this time")
	fs.BoolVar(&cfg.quiet, "quiet", false, "do not log connections and disconnections")
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 0 {
		fmt.Fprintf(stderr, "natsim pushd: unexpected arguments %v\n", pos)
		return exitError
	}
	d, err := startPushd(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "natsim pushd: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "natsim pushd: listening on %s (MQTT 3.1.1)\n", d.Addr())
	<-ctx.Done()
	st := d.Stop()
	fmt.Fprintf(stdout, "natsim pushd: stopped; %d connections accepted, %d CONNECTs, %d published, %d sent, %d acknowledged\n",
		st.Accepted, st.Connects, st.Published, st.Sent, st.Acked)
	return exitOK
}
