package main

import (
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/hostnet"
	"github.com/natsim/natsim/sim/push"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
)

// willKeepAlive is the MQTT keep-alive of the agreement spec: short, so
// the spec takes seconds (the server waits 1.5 x it).
const willKeepAlive = 2 * time.Second

// willTolerance is how late the will may arrive after 1.5 x the
// keep-alive past the client's last packet, and how far the two servers may
// differ. mosquitto keeps its keep-alive clock in whole seconds and closes
// a client once more than 1.5 x keep-alive whole seconds have passed, so
// it publishes the will between 1.5 K and 1.5 K + 2 s after the last
// packet (mosquitto 2.0.11, Debian 12: 4.1 to 4.75 s for K = 2 s over six
// runs); pushd's timer fires on time (3.000 to 3.004 s).
const willTolerance = 2 * time.Second

// pushdTolerance bounds pushd's lateness: scheduling and loopback only.
const pushdTolerance = 100 * time.Millisecond

// willDelay connects natsim's push client with a will to the MQTT server
// at addr on the wall clock, a raw subscriber on the will topic, suspends
// the client (the connection stays open; it just falls silent, as a
// suspended watch app) and returns the time from the client's last packet
// to the will's arrival at the subscriber.
func willDelay(addr string) time.Duration {
	sched := sim.NewWallScheduler()
	go sched.Run()
	DeferCleanup(sched.Stop)

	sub := dialRaw(addr)
	sub.send(connectPacket("presence-sub", 60, true))
	Expect(sub.next(2*time.Second).header>>4).To(Equal(byte(2)), "CONNACK")
	sub.send(subscribePacket(1, "presence/watch", 1))
	Expect(sub.next(2*time.Second).header>>4).To(Equal(byte(9)), "SUBACK")

	var lastWrite time.Time // scheduler goroutine only, read after Suspend
	connected := make(chan struct{}, 1)
	strat, err := strategy.New("fixed", strategy.Params{"interval": 500 * time.Millisecond, "ack_timeout": time.Second}, rand.New(rand.NewPCG(1, 2)))
	Expect(err).NotTo(HaveOccurred())
	dial := func(_ push.DialOptions, h sim.ConnHandler) (sim.Conn, error) {
		return hostnet.Dial(sched, addr, h, hostnet.Options{})
	}
	c, err := push.NewClient(sched, rand.New(rand.NewPCG(1, 1)), strat, dial, push.ClientConfig{
		ClientID:  "watch",
		KeepAlive: willKeepAlive,
		Will:      &push.Will{Topic: "presence/watch", Payload: []byte("offline"), QoS: 1, Online: []byte("online")},
		Tag:       func(radio.Cause, int) { lastWrite = time.Now() },
		Observer: push.ClientObserverFunc(func(ev push.ClientEvent) {
			if ev.Kind == push.ClientConnected {
				connected <- struct{}{}
			}
		}),
	})
	Expect(err).NotTo(HaveOccurred())
	sched.Post(c.Start)
	Eventually(connected, 3*time.Second).Should(Receive())
	online := sub.next(2 * time.Second)
	Expect(online.header>>4).To(Equal(byte(3)), "the birth PUBLISH")
	Expect(string(online.body)).To(HaveSuffix("online"))

	time.Sleep(1200 * time.Millisecond) // a couple of PINGREQs
	last := make(chan time.Time, 1)
	sched.Post(func() {
		c.Suspend()
		last <- lastWrite
	})
	silentSince := <-last
	will := sub.next(3*willKeepAlive + 2*time.Second)
	arrived := time.Now()
	Expect(will.header>>4).To(Equal(byte(3)), "the will PUBLISH")
	Expect(string(will.body)).To(HaveSuffix("offline"))
	d := arrived.Sub(silentSince)
	GinkgoWriter.Printf("%s: will %v after the client's last packet\n", addr, d)
	return d
}

var _ = Describe("MQTT will: natsim pushd agrees with mosquitto", Label("real-server"), func() {
	BeforeEach(requireReal)

	It("publishes the will of a client fallen silent 1.5 x keep-alive after its last packet", func(_ SpecContext) {
		mosq := startMosquitto()
		pushdAddr, _ := startTestPushd(pushdConfig{})
		want := willKeepAlive * 3 / 2
		dm := willDelay(mosq)
		dp := willDelay(pushdAddr)
		GinkgoWriter.Printf("will after the last packet: mosquitto %v, pushd %v (1.5 x %v = %v)\n", dm, dp, willKeepAlive, want)
		for _, d := range []time.Duration{dm, dp} {
			Expect(d).To(BeNumerically(">=", want-50*time.Millisecond))
			Expect(d).To(BeNumerically("<=", want+willTolerance))
		}
		Expect(dp).To(BeNumerically("<=", want+pushdTolerance), "pushd's will is late")
		Expect(dm - dp).To(BeNumerically("~", 0, willTolerance))
	}, SpecTimeout(30*time.Second))
})
