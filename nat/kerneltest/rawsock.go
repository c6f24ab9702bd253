package kerneltest

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// packetSocket is an AF_PACKET socket bound to one interface in one
// network namespace. A socket keeps the namespace it was created in, so
// only its creation needs a thread inside that namespace.
type packetSocket struct {
	fd      int
	ifindex int
	// outgoing keeps the packets the endpoint itself sends, too.
	outgoing bool
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openPacketSocket creates the socket inside ns (see inNamespace).
// outgoing keeps the frames the endpoint sends as well as those it
// receives.
func openPacketSocket(ns, dev string, outgoing bool) (s *packetSocket, err error) {
	err = inNamespace(ns, func() error {
		s, err = openHere(dev)
		if s != nil {
			s.outgoing = outgoing
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("in %s: %w", ns, err)
	}
	return s, nil
}

// inNamespace runs f on a fresh OS thread that has entered the network
// namespace ns, and waits for it. Sockets f creates stay in ns for their
// whole life, whichever thread later uses them. The thread stays locked
// and is discarded when its goroutine ends, so no other goroutine ever
// runs in the lab's namespaces.
func inNamespace(ns string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the runtime ends the thread with the
		// goroutine instead of reusing a thread in the wrong namespace.
		runtime.LockOSThread()
		nsf, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		defer nsf.Close()
		if err := unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ch <- f()
	}()
	return <-ch
}

// openHere opens the packet socket on dev in the calling thread's
// namespace.
func openHere(dev string) (*packetSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("interface %s: %w", dev, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to %s: %w", dev, err)
	}
	// A short receive timeout lets the capture loop notice Close.
	tv := unix.Timeval{Usec: 50_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	return &packetSocket{fd: fd, ifindex: ifi.Index}, nil
}

// send frames pkt (IPv4) for dst and writes it.
func (s *packetSocket) send(dst, src net.HardwareAddr, pkt []byte) error {
	frame := make([]byte, 14+len(pkt))
	copy(frame[0:6], dst)
	copy(frame[6:12], src)
	binary.BigEndian.PutUint16(frame[12:14], unix.ETH_P_IP)
	copy(frame[14:], pkt)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: s.ifindex, Halen: 6}
	copy(sa.Addr[:], dst)
	if err := unix.Sendto(s.fd, frame, 0, sa); err != nil {
		return fmt.Errorf("send on packet socket: %w", err)
	}
	return nil
}

// recv returns the next IPv4 packet arriving on the interface, or (with
// outgoing set) leaving it, without its Ethernet header, and whether it
// was leaving; false on timeout or for anything else.
func (s *packetSocket) recv(buf []byte) (pkt []byte, sent, ok bool) {
	n, from, err := unix.Recvfrom(s.fd, buf, 0)
	if err != nil || n < 14 {
		return nil, false, false
	}
	if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
		if !s.outgoing {
			return nil, false, false
		}
		sent = true
	}
	if binary.BigEndian.Uint16(buf[12:14]) != unix.ETH_P_IP {
		return nil, false, false
	}
	return append([]byte(nil), buf[14:n]...), sent, true
}

func (s *packetSocket) close() { unix.Close(s.fd) }
