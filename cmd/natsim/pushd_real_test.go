package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func pahoClient(addr, id string, clean bool) mqtt.Client {
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(clean).SetKeepAlive(5 * time.Second).SetAutoReconnect(false).
		SetConnectTimeout(3 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	Expect(tok.WaitTimeout(5*time.Second)).To(BeTrue(), "paho %s: connect timed out", id)
	Expect(tok.Error()).NotTo(HaveOccurred())
	DeferCleanup(func() { c.Disconnect(50) })
	return c
}

var _ = Describe("natsim pushd with real MQTT clients", Label("real-server"), func() {
	BeforeEach(requireReal)

	It("routes mosquitto_pub to mosquitto_sub (QoS 0 and 1)", func(ctx SpecContext) {
		sub, pub := requireTool("mosquitto_sub"), requireTool("mosquitto_pub")
		addr, log := startTestPushd(pushdConfig{})
		host, port, _ := strings.Cut(addr, ":")
		cmd := runCmd(ctx, sub, "-h", host, "-p", port, "-t", "news/#", "-q", "1", "-C", "2", "-v", "-i", "sub1", "-W", "10")
		out := &syncBuffer{}
		cmd.Stdout = out
		Expect(cmd.Start()).To(Succeed())
		Eventually(log.String, 5*time.Second).Should(ContainSubstring(`connected client="sub1"`))
		// The subscription is in place once SUBACK went out; give it a beat.
		time.Sleep(200 * time.Millisecond)
		Expect(runCmd(ctx, pub, "-h", host, "-p", port, "-t", "news/a", "-q", "1", "-m", "hello").Run()).To(Succeed())
		Expect(runCmd(ctx, pub, "-h", host, "-p", port, "-t", "news/b", "-q", "0", "-m", "world").Run()).To(Succeed())
		Expect(cmd.Wait()).To(Succeed())
		Expect(out.String()).To(Equal("news/a hello\nnews/b world\n"))
		Expect(log.String()).To(ContainSubstring(`disconnected client="sub1"`))
	}, SpecTimeout(20*time.Second))

	It("serves paho.mqtt.golang: subscribe, QoS 0 and 1 publish and receive", func() {
		addr, _ := startTestPushd(pushdConfig{})
		got := make(chan mqtt.Message, 4)
		sub := pahoClient(addr, "paho-sub", true)
		tok := sub.Subscribe("t/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m })
		Expect(tok.WaitTimeout(3 * time.Second)).To(BeTrue())
		Expect(tok.Error()).NotTo(HaveOccurred())
		pub := pahoClient(addr, "paho-pub", true)
		Expect(pub.Publish("t/zero", 0, false, "q0").WaitTimeout(3 * time.Second)).To(BeTrue())
		t1 := pub.Publish("t/one", 1, false, "q1")
		Expect(t1.WaitTimeout(3*time.Second)).To(BeTrue(), "no PUBACK for QoS 1")
		Expect(t1.Error()).NotTo(HaveOccurred())
		seen := map[string]byte{}
		for range 2 {
			var m mqtt.Message
			Eventually(got, 3*time.Second).Should(Receive(&m))
			seen[m.Topic()+"="+string(m.Payload())] = m.Qos()
		}
		Expect(seen).To(Equal(map[string]byte{"t/zero=q0": 0, "t/one=q1": 1}))
	})

	It("keeps a persistent session and redelivers an unacknowledged QoS 1 message with DUP", func() {
		addr, log := startTestPushd(pushdConfig{})
		rc := dialRaw(addr)
		rc.send(connectPacket("persist", 60, false))
		Expect(rc.next(2 * time.Second).header).To(Equal(byte(0x20))) // CONNACK
		rc.send(subscribePacket(1, "p/1", 1))
		Expect(rc.next(2*time.Second).header >> 4).To(Equal(byte(9))) // SUBACK
		pub := pahoClient(addr, "pub-p", true)
		Expect(pub.Publish("p/1", 1, false, "first").WaitTimeout(3 * time.Second)).To(BeTrue())
		p := rc.next(2 * time.Second)
		Expect(p.header).To(Equal(byte(0x32)), "QoS 1 PUBLISH without DUP")
		pid := p.body[len(mqttString("p/1")):][:2]
		rc.c.Close() // no PUBACK: the message stays unacknowledged
		Eventually(log.String, 3*time.Second).Should(ContainSubstring(`disconnected client="persist"`))
		// While offline, one more message is stored.
		Expect(pub.Publish("p/1", 1, false, "second").WaitTimeout(3 * time.Second)).To(BeTrue())

		rc2 := dialRaw(addr)
		rc2.send(connectPacket("persist", 60, false))
		ack := rc2.next(2 * time.Second)
		Expect(ack.header).To(Equal(byte(0x20)))
		Expect(ack.body[0]&1).To(Equal(byte(1)), "CONNACK session present")
		re := rc2.next(2 * time.Second)
		Expect(re.header).To(Equal(byte(0x3a)), "QoS 1 PUBLISH with DUP")
		Expect(re.body[len(mqttString("p/1")):][:2]).To(Equal(pid), "same packet id")
		Expect(string(re.body[len(mqttString("p/1"))+2:])).To(Equal("first"))
		st := rc2.next(2 * time.Second)
		Expect(st.header).To(Equal(byte(0x32)))
		Expect(string(st.body[len(mqttString("p/1"))+2:])).To(Equal("second"))
	})

	It("disconnects a client that stops pinging after 1.5 x its keep-alive", func() {
		addr, log := startTestPushd(pushdConfig{})
		rc := dialRaw(addr)
		rc.send(connectPacket("silent", 2, true))
		Expect(rc.next(2 * time.Second).header).To(Equal(byte(0x20)))
		// CONNACK left at the CONNECT's arrival; the close is due 3 s
		// after it. Allow the scheduler's and the loopback's slack.
		took := rc.closedWithin(6 * time.Second)
		Expect(took).To(BeNumerically("~", 3*time.Second, 300*time.Millisecond))
		Eventually(log.String, time.Second).Should(ContainSubstring(`disconnected client="silent" remote=` + rc.c.LocalAddr().String() + ` reason=keepalive_timeout`))
	})

	It("closes a connection that sends no CONNECT within the connect timeout", func() {
		addr, log := startTestPushd(pushdConfig{connectTimeout: time.Second})
		rc := dialRaw(addr)
		Expect(rc.closedWithin(4 * time.Second)).To(BeNumerically("~", time.Second, 300*time.Millisecond))
		Eventually(log.String, time.Second).Should(ContainSubstring("reason=connect_timeout"))
	})

	It("closes a connection that sends malformed input, and only that one", func() {
		addr, log := startTestPushd(pushdConfig{})
		got := make(chan mqtt.Message, 1)
		good := pahoClient(addr, "good", true)
		Expect(good.Subscribe("ok", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }).WaitTimeout(3 * time.Second)).To(BeTrue())
		bad := dialRaw(addr)
		bad.send(connectPacket("bad", 60, true))
		Expect(bad.next(2 * time.Second).header).To(Equal(byte(0x20)))
		bad.send([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // reserved type, 5-byte length
		bad.closedWithin(2 * time.Second)
		Eventually(log.String, time.Second).Should(ContainSubstring(`disconnected client="bad"`))
		Expect(log.String()).To(ContainSubstring("reason=protocol_error"))
		Expect(good.IsConnectionOpen()).To(BeTrue())
		Expect(good.Publish("ok", 1, false, "still here").WaitTimeout(3 * time.Second)).To(BeTrue())
		Eventually(got, 3*time.Second).Should(Receive())
	})

	It("resets connections beyond --max-conns and accepts again when one closes", func() {
		const limit = 50
		addr, _ := startTestPushd(pushdConfig{maxConns: limit})
		var conns []*rawClient
		for i := range limit {
			rc := dialRaw(addr)
			rc.send(connectPacket(fmt.Sprintf("c%d", i), 60, true))
			Expect(rc.next(2 * time.Second).header).To(Equal(byte(0x20)))
			conns = append(conns, rc)
		}
		// The listener accepts and resets at once: the dial itself or the
		// first read fails.
		if extra, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			(&rawClient{c: extra, r: bufio.NewReader(extra)}).closedWithin(2 * time.Second)
			extra.Close()
		}
		conns[0].c.Close()
		Eventually(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write(connectPacket("late", 60, true)); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, err = readPacket(bufio.NewReader(c))
			return err
		}, 3*time.Second, 100*time.Millisecond).Should(Succeed())
	})

	It("stops cleanly when its context ends", func() {
		ctx, cancel := context.WithCancel(context.Background())
		port := freePort()
		out, errs := &syncBuffer{}, &syncBuffer{}
		done := make(chan int, 1)
		go func() { done <- run(ctx, []string{"pushd", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, out, errs) }()
		waitPort(fmt.Sprintf("127.0.0.1:%d", port), 3*time.Second)
		c := pahoClient(fmt.Sprintf("127.0.0.1:%d", port), "bye", true)
		cancel()
		Eventually(done, 3*time.Second).Should(Receive(Equal(exitOK)))
		Expect(out.String()).To(ContainSubstring("listening on 127.0.0.1:"))
		Expect(out.String()).To(ContainSubstring("stopped"))
		Expect(errs.String()).To(ContainSubstring(`disconnected client="bye"`))
		Eventually(c.IsConnectionOpen, 3*time.Second).Should(BeFalse())
	})
})
