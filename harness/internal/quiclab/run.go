package quiclab

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/natsim/natsim/nat/kerneltest"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"
)

// Ports the stories use: story i's client binds ClientPortBase+i inside,
// its server listens on ServerPortBase+i outside, so that every packet
// and conntrack entry belongs to exactly one story.
const (
	ClientPortBase = 50100
	ServerPortBase = 4430
)

// serverName is the name in the self-signed certificate.
const serverName = "push.natsim.test"

// alpn is the application protocol both sides announce: MQTT over QUIC
// brokers (EMQX, NanoMQ) use "mqtt".
const alpn = "mqtt"

// Run plays the stories at once through lab (built with
// kerneltest.Options.Hosts) and returns one Result per story. Every
// story's clock starts at the same instant; Run returns after the last
// story's End. When pcap is not nil, every packet captured on the two
// endpoint links is written to it as pcapng.
func Run(lab *kerneltest.Lab, stories []Story, pcap io.Writer) ([]Result, error) {
	serverTLS, clientTLS, err := selfSigned()
	if err != nil {
		return nil, err
	}
	watch, err := lab.WatchFlows()
	if err != nil {
		return nil, err
	}
	lab.Collect(0) // drop what was captured while the lab was built
	start := time.Now()
	stop := make(chan struct{})
	runs := make([]*storyRun, len(stories))
	var wg sync.WaitGroup
	for i, s := range stories {
		r := &storyRun{
			story:      s,
			clientPort: uint16(ClientPortBase + i),
			serverPort: uint16(ServerPortBase + i),
			start:      start,
		}
		runs[i] = r
		wg.Go(func() { r.err = r.play(lab, serverTLS, clientTLS) })
	}
	// Listing the table every quarter second makes the kernel evict
	// expired entries as the listing meets them (ctnetlink's dump skips
	// and reaps them), so a DESTROY event comes within that period of the
	// expiry instead of whenever the garbage collector next runs.
	done := make(chan struct{})
	var pollErr error
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if _, err := lab.Flows(); err != nil && pollErr == nil {
					pollErr = err
				}
			case <-stop:
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	flows := watch.Stop()
	captured := lab.Collect(100 * time.Millisecond)
	errs := []error{pollErr}
	if pcap != nil {
		errs = append(errs, kerneltest.WritePcapng(pcap, captured))
	}
	out := make([]Result, len(runs))
	for i, r := range runs {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("story %q: %w", r.story.Name, r.err))
		}
		// quic-go may still record a closing connection's events.
		r.mu.Lock()
		r.addFlows(flows)
		r.addPackets(captured)
		ev := slices.DeleteFunc(slices.Clone(r.events), func(e Event) bool { return e.At > r.story.End })
		r.mu.Unlock()
		slices.SortStableFunc(ev, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
		dg := slices.DeleteFunc(slices.Clone(r.datagrams), func(d Datagram) bool { return d.At > r.story.End })
		slices.SortStableFunc(dg, func(a, b Datagram) int { return cmp.Compare(a.At, b.At) })
		out[i] = Result{Story: r.story, ClientPort: r.clientPort, ServerPort: r.serverPort, Events: ev, Datagrams: dg}
	}
	return out, errors.Join(errs...)
}

// storyRun is one story in progress.
type storyRun struct {
	story                  Story
	clientPort, serverPort uint16
	start                  time.Time

	mu        sync.Mutex
	events    []Event
	datagrams []Datagram
	err       error
	// forgets are the instants ForgetFlows deleted the client's entries:
	// the mapping ended then, however late conntrack's DESTROY event is
	// read (a loaded machine delays the event watcher by seconds).
	forgets []time.Duration
}

func (r *storyRun) note(k Kind, detail string) {
	r.mu.Lock()
	r.events = append(r.events, Event{At: time.Since(r.start), Kind: k, Detail: detail})
	r.mu.Unlock()
}

func (r *storyRun) tracer(client bool) func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace {
	return func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace {
		return &trace{client: client, keepAlive: r.story.KeepAlive, start: r.start, mu: &r.mu, events: &r.events}
	}
}

// play runs the story: dial, subscribe, the scheduled steps, and close at
// End.
func (r *storyRun) play(lab *kerneltest.Lab, serverTLS, clientTLS *tls.Config) error {
	s := r.story
	srvSock, err := lab.ListenUDP(kerneltest.Outside, int(r.serverPort))
	if err != nil {
		return err
	}
	srvTr := &quic.Transport{Conn: srvSock}
	defer srvTr.Close()
	cliSock, err := lab.ListenUDP(kerneltest.Inside, int(r.clientPort))
	if err != nil {
		return err
	}
	cliTr := &quic.Transport{Conn: cliSock}
	defer cliTr.Close()

	ln, err := srvTr.Listen(serverTLS, &quic.Config{MaxIdleTimeout: s.IdleTimeout, Tracer: r.tracer(false)})
	if err != nil {
		return err
	}
	defer ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srvAddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.ServerAddr, r.serverPort))
	type accepted struct {
		stream *quic.Stream
		err    error
	}
	acc := make(chan accepted, 1)
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			acc <- accepted{err: err}
			return
		}
		st, err := conn.AcceptStream(ctx)
		acc <- accepted{st, err}
	}()
	cli, err := cliTr.Dial(ctx, srvAddr, clientTLS, &quic.Config{
		MaxIdleTimeout:  s.IdleTimeout,
		KeepAlivePeriod: s.KeepAlive,
		Tracer:          r.tracer(true),
	})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer cli.CloseWithError(0, "")
	r.note(KindHandshake, "")
	cst, err := cli.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	// The stream opens on the wire with its first bytes: the subscription.
	if _, err := cst.Write([]byte("subscribe\n")); err != nil {
		return err
	}
	a := <-acc
	if a.err != nil {
		return fmt.Errorf("accept: %w", a.err)
	}
	sst := a.stream
	go r.read(cst, KindPushDelivered)

	var stepErrs []error
	for i, st := range s.Steps {
		time.Sleep(time.Until(r.start.Add(st.At)))
		msg := fmt.Appendf(nil, "%s-%d\n", st.Action, i)
		switch st.Action {
		case ServerPush:
			r.note(KindPushSent, string(msg[:len(msg)-1]))
			_, err = sst.Write(msg)
		case ForgetMapping:
			var n int
			at := time.Since(r.start)
			n, err = lab.ForgetFlows(r.clientPort)
			r.note(KindForget, fmt.Sprintf("%d entries", n))
			if n > 0 {
				r.mu.Lock()
				r.forgets = append(r.forgets, at)
				r.mu.Unlock()
			}
		default:
			err = fmt.Errorf("unknown action %q", st.Action)
		}
		if err != nil {
			// A write on a connection the idle timeout closed fails; the
			// timeline shows it, so it is not a failure of the run.
			var idle *quic.IdleTimeoutError
			if !errors.As(err, &idle) {
				stepErrs = append(stepErrs, fmt.Errorf("step %d (%s at %v): %w", i, st.Action, st.At, err))
			}
		}
	}
	time.Sleep(time.Until(r.start.Add(s.End)))
	return errors.Join(stepErrs...)
}

// read records every line that arrives on st as an event of kind k.
func (r *storyRun) read(st *quic.Stream, k Kind) {
	sc := bufio.NewScanner(st)
	for sc.Scan() {
		r.note(k, sc.Text())
	}
}

// addFlows (with r.mu held) adds the story's conntrack events: the client's entries and
// the entries the server's unanswered datagrams created.
func (r *storyRun) addFlows(flows []kerneltest.FlowEvent) {
	assured := false
	for _, fe := range flows {
		f := fe.Flow
		at := fe.At.Sub(r.start)
		switch {
		case f.OrigSrc.Port() == r.clientPort && f.OrigDst.Port() == r.serverPort:
			port := fmt.Sprintf("public port %d", f.ReplyDst.Port())
			switch {
			case fe.Kind == "NEW":
				assured = false
				r.events = append(r.events, Event{At: at, Kind: KindMapping, Detail: port})
			case fe.Kind == "UPDATE" && f.Assured && !assured:
				assured = true
				r.events = append(r.events, Event{At: at, Kind: KindAssured, Detail: port})
			case fe.Kind == "DESTROY":
				r.events = append(r.events, Event{At: r.goneAt(at), Kind: KindMappingGone, Detail: port})
			}
		case f.OrigSrc == netip.AddrPortFrom(kerneltest.ServerAddr, r.serverPort) && fe.Kind == "NEW":
			r.events = append(r.events, Event{At: at, Kind: KindInboundEntry, Detail: fmt.Sprintf("public port %d", f.OrigDst.Port())})
		}
	}
}

// goneAt is when a mapping whose DESTROY event was read at at ended: the
// last ForgetFlows before at if one came within forgetLag of it (the
// event was the deletion's, read late), else at (an expiry).
func (r *storyRun) goneAt(at time.Duration) time.Duration {
	for i := len(r.forgets) - 1; i >= 0; i-- {
		if f := r.forgets[i]; f <= at {
			if at-f <= forgetLag {
				return f
			}
			break
		}
	}
	return at
}

// forgetLag bounds how late a deletion's DESTROY event may be read and
// still be taken for the deletion's.
const forgetLag = 5 * time.Second

// addPackets (with r.mu held) adds what the captures show: every
// datagram of the story and whether it crossed the NAT box, the public
// ports the server saw the client from, the server datagrams that never
// reached the client, and the NAT box's ICMP errors.
func (r *storyRun) addPackets(caps []kerneltest.Captured) {
	server := netip.AddrPortFrom(kerneltest.ServerAddr, r.serverPort)
	// Payloads that left the NAT box on each side: QUIC datagrams are
	// unique, and masquerade changes only addresses and ports.
	// For the client's datagrams, the public port they arrived from.
	toClient := map[string]bool{}
	toServer := map[string]uint16{}
	for _, c := range caps {
		d, ok := parseUDP(c.Pkt)
		switch {
		case !ok || c.FromHost:
		case c.Side == kerneltest.Inside && d.src == server:
			toClient[string(d.payload)] = true
		case c.Side == kerneltest.Outside && d.dst == server:
			toServer[string(d.payload)] = d.src.Port()
		}
	}
	seen := map[uint16]bool{}
	for _, c := range caps {
		at := c.At.Sub(r.start)
		if port, ok := icmpUnreachable(c.Pkt, server); ok && !c.FromHost && c.Side == kerneltest.Outside {
			r.events = append(r.events, Event{At: at, Kind: KindICMP, Detail: fmt.Sprintf("public port %d", port)})
			continue
		}
		d, ok := parseUDP(c.Pkt)
		if !ok {
			continue
		}
		switch {
		case c.FromHost && c.Side == kerneltest.Inside && d.src.Port() == r.clientPort && d.dst == server:
			port, passed := toServer[string(d.payload)]
			r.datagrams = append(r.datagrams, Datagram{At: at, Size: len(d.payload), PublicPort: port, Passed: passed})
		case c.FromHost && c.Side == kerneltest.Outside && d.src == server:
			passed := toClient[string(d.payload)]
			r.datagrams = append(r.datagrams, Datagram{At: at, FromServer: true, Size: len(d.payload), PublicPort: d.dst.Port(), Passed: passed})
			if !passed {
				r.events = append(r.events, Event{At: at, Kind: KindDropped, Detail: fmt.Sprintf("public port %d, %d bytes", d.dst.Port(), len(d.payload))})
			}
		case !c.FromHost && c.Side == kerneltest.Outside && d.dst == server:
			if !seen[d.src.Port()] {
				seen[d.src.Port()] = true
				r.events = append(r.events, Event{At: at, Kind: KindPublicPort, Detail: fmt.Sprintf("%d", d.src.Port())})
			}
		}
	}
}

// selfSigned makes a fresh ECDSA key and certificate for serverName and
// the TLS configurations that trust it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: serverName},
		DNSNames:     []string{serverName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		NextProtos:   []string{alpn},
	}
	client = &tls.Config{RootCAs: pool, ServerName: serverName, NextProtos: []string{alpn}}
	return server, client, nil
}
