package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// TestRealServers is the suite of specs labelled "real-server": natsim
// pushd against real MQTT clients, and the agreement of the built-in
// server, pushd and mosquitto on one scenario. They need real sockets and
// take minutes, so they run only when asked:
//
//	.ci/mosquitto.sh && go tool ginkgo --label-filter=real-server ./cmd/natsim
//
// (or NATSIM_REAL_SERVER=1 go test ./cmd/natsim). A missing mosquitto
// skips the specs that need it, or fails them when CI=true.
func TestRealServers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "natsim real servers")
}

func requireReal() {
	if !strings.Contains(GinkgoLabelFilter(), "real-server") && os.Getenv("NATSIM_REAL_SERVER") == "" {
		Skip("real-server specs run with --label-filter=real-server or NATSIM_REAL_SERVER=1")
	}
}

// requireTool finds a program of the mosquitto packages; when it is
// missing the spec is skipped, or fails under CI=true.
func requireTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	msg := fmt.Sprintf("%s is not installed: run .ci/mosquitto.sh (apt-get install mosquitto mosquitto-clients)", name)
	if os.Getenv("CI") == "true" {
		Fail(msg)
	}
	Skip(msg)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(addr string, within time.Duration) {
	Eventually(func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}, within, 50*time.Millisecond).Should(Succeed(), "nothing listens on %s", addr)
}

// startMosquitto runs mosquitto on a free loopback port with a config in a
// temp dir and stops it when the spec (or container) ends.
func startMosquitto() string {
	bin := requireTool("mosquitto")
	port := freePort()
	dir := GinkgoT().TempDir()
	cfg := filepath.Join(dir, "mosquitto.conf")
	// mosquitto 2.x listens only on localhost and refuses anonymous
	// clients unless told otherwise.
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n", port)
	Expect(os.WriteFile(cfg, []byte(conf), 0o644)).To(Succeed())
	cmd := exec.Command(bin, "-c", cfg)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitPort(addr, 5*time.Second)
	return addr
}

// syncBuffer is a log buffer safe for the scheduler goroutine and specs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	GinkgoWriter.Write(p)
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTestPushd runs pushd in-process on a free port until the spec ends.
func startTestPushd(cfg pushdConfig) (string, *syncBuffer) {
	log := &syncBuffer{}
	cfg.listen = "127.0.0.1:0"
	if cfg.keepAliveFactor == 0 {
		cfg.keepAliveFactor = 1.5
	}
	if cfg.offline == "" {
		cfg.offline = "keep-all"
	}
	if cfg.maxConns == 0 {
		cfg.maxConns = 100
	}
	if cfg.connectTimeout == 0 {
		cfg.connectTimeout = 10 * time.Second
	}
	d, err := startPushd(cfg, log)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { d.Stop() })
	return d.Addr(), log
}

// A raw MQTT 3.1.1 client for the behaviours real client libraries hide.

func mqttString(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

func packet(h byte, body []byte) []byte {
	out := []byte{h}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func connectPacket(id string, keepAlive uint16, clean bool) []byte {
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	body := append(mqttString("MQTT"), 4, flags, byte(keepAlive>>8), byte(keepAlive))
	return packet(0x10, append(body, mqttString(id)...))
}

func subscribePacket(pid uint16, filter string, qos byte) []byte {
	body := append([]byte{byte(pid >> 8), byte(pid)}, mqttString(filter)...)
	return packet(0x82, append(body, qos))
}

type rawPacket struct {
	header byte
	body   []byte
}

func readPacket(r *bufio.Reader) (rawPacket, error) {
	h, err := r.ReadByte()
	if err != nil {
		return rawPacket{}, err
	}
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return rawPacket{}, err
		}
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return rawPacket{h, body}, err
}

type rawClient struct {
	c net.Conn
	r *bufio.Reader
}

func dialRaw(addr string) *rawClient {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { c.Close() })
	return &rawClient{c: c, r: bufio.NewReader(c)}
}

func (rc *rawClient) send(b []byte) {
	_, err := rc.c.Write(b)
	Expect(err).NotTo(HaveOccurred())
}

func (rc *rawClient) next(within time.Duration) rawPacket {
	rc.c.SetReadDeadline(time.Now().Add(within))
	p, err := readPacket(rc.r)
	Expect(err).NotTo(HaveOccurred())
	return p
}

// closedWithin waits for the server to close the connection and returns
// how long it took.
func (rc *rawClient) closedWithin(within time.Duration) time.Duration {
	start := time.Now()
	rc.c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, rc.r)
	var ne net.Error
	Expect(errors.As(err, &ne) && ne.Timeout()).To(BeFalse(), "connection still open after %v", within)
	return time.Since(start)
}

func runCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = GinkgoWriter
	return cmd
}
