package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: arbitrary bytes never panic the loader, and whatever loads
// renders and loads again.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte(appsBase))
	f.Add([]byte(strings.Replace(appsBase, "{name: mail}", "{name: tg, connection: own, transport: {name: quic, idle_timeout: 60s}, server: {port: 443, offline: {policy: keep-n, n: 5}, tcp: {keepalive_idle: 60s}}}", 1)))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("a: &a {b: *a}\n"))
	f.Add([]byte("<<: {name: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Load("f.yaml", data)
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		out, err := Render(s)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if _, err := Load("r.yaml", out); err != nil {
			t.Fatalf("rendered scenario does not load: %v\n%s", err, out)
		}
	})
}

// FuzzParseExpectation: the parser never panics, and what it accepts
// prints to a string it parses back to the same expectation.
func FuzzParseExpectation(f *testing.F) {
	files, _ := filepath.Glob("*.yaml")
	for _, p := range files {
		s, err := LoadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range s.Expect {
			f.Add(e.String())
		}
	}
	for _, s := range []string{"latency_s.p99@phones<5", "x >= ", "a@@b == 1", "delivery_ratio != NaN", "reconnects == 1e308", "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpectation(s)
		if err != nil {
			return
		}
		back, err := ParseExpectation(e.String())
		if err != nil || back != e {
			t.Fatalf("%q -> %q -> %+v, %v", s, e.String(), back, err)
		}
		if strings.TrimSpace(e.Metric) != e.Metric {
			t.Fatalf("metric %q has spaces", e.Metric)
		}
	})
}
