package quic

import "testing"

// FuzzParse feeds arbitrary datagrams to the packet, frame, TLS message
// and transport parameter parsers: they must return errors, never panic,
// and never read beyond the datagram.
func FuzzParse(f *testing.F) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	var payload []byte
	payload = appendAck(payload, []ackRange{{10, 12}, {0, 1}}, 100)
	payload = appendCrypto(payload, 0, appendMessage(nil, tlsClientHello, 100, appendParams(nil, transportParams{idleTimeout: 1}), false))
	payload = appendStream(payload, 0, 9, []byte("x"), true)
	payload = appendClose(payload, false, 10, "r")
	f.Add(appendPacket(nil, typeInitial, dcid, dcid, []byte{1}, 1, 1, payload))
	f.Add(appendPacket(nil, typeShort, dcid, nil, nil, 1, 4, payload))
	f.Add([]byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			h, err := parseHeader(b, cidLen)
			if err != nil {
				return
			}
			if h.size <= 0 || h.size > len(b) {
				t.Fatalf("size %d of %d", h.size, len(b))
			}
			_ = parseFrames(h.payload, func(fr *frame) error {
				if fr.typ == frCrypto {
					for m := fr.data; ; {
						_, n, err := parseMessage(m)
						if err != nil || n == 0 {
							break
						}
						m = m[n:]
					}
				}
				return nil
			})
			b = b[h.size:]
		}
	})
}
