package plots

import (
	"fmt"
	"strings"
	"testing"
)

// synthEvents is a short story for two devices: phones/1 connects, keeps
// alive, loses its CGNAT mapping, misses a keep-alive, reconnects; a push
// arrives on time, one late, one is lost. phones/2 changes network.
const synthEvents = `{"t_s":0,"kind":"mapping_created","device":"phones/1","layer":"home","network":"wifi"}
{"t_s":0,"kind":"mapping_created","device":"phones/1","layer":"cgnat","network":"wifi"}
{"t_s":0.1,"kind":"conn_up","device":"phones/1"}
{"t_s":0,"kind":"conn_up","device":"phones/2"}
{"t_s":200,"kind":"keepalive_sent","device":"phones/1"}
{"t_s":200.1,"kind":"keepalive_ok","device":"phones/1"}
{"t_s":300,"kind":"push_sent","device":"phones/1","id":1}
{"t_s":300.2,"kind":"push_delivered","device":"phones/1","id":1,"latency_s":0.2}
{"t_s":700,"kind":"mapping_expired","device":"phones/1","layer":"cgnat","network":"wifi"}
{"t_s":800,"kind":"push_sent","device":"phones/1","id":2}
{"t_s":900,"kind":"push_sent","device":"phones/1","id":3}
{"t_s":1000,"kind":"keepalive_failed","device":"phones/1"}
{"t_s":1000,"kind":"conn_down","device":"phones/1","reason":"keepalive_timeout"}
{"t_s":1000,"kind":"network_change","device":"phones/2","network":"cellular"}
{"t_s":1001,"kind":"mapping_created","device":"phones/1","layer":"cgnat","network":"wifi"}
{"t_s":1001.5,"kind":"conn_up","device":"phones/1"}
{"t_s":1002,"kind":"push_delivered","device":"phones/1","id":2,"latency_s":202}
{"t_s":1002,"kind":"push_lost","device":"phones/1","id":3}
{"t_s":1200,"kind":"conn_down","device":"phones/2","reason":"network_change"}
`

func TestBuildTimelines(t *testing.T) {
	tls, err := BuildTimelines(strings.NewReader(synthEvents), "events.jsonl", []string{"phones/1", "phones/2"}, 1800, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := tls[0]
	if got := fmt.Sprint(a.Conns); got != "[{0.1 1000 keepalive_timeout} {1001.5 1800 }]" {
		t.Errorf("phones/1 connection segments %s", got)
	}
	if got := fmt.Sprint(a.Layers, a.Mappings["cgnat"], a.Mappings["home"]); got != "[home cgnat] [{0 700 wifi} {1001 1800 wifi}] [{0 1800 wifi}]" {
		t.Errorf("phones/1 mappings %s", got)
	}
	if fmt.Sprint(a.KeepAliveOK, a.KeepAliveFailed) != "[200.1] [1000]" {
		t.Errorf("keep-alives %v %v", a.KeepAliveOK, a.KeepAliveFailed)
	}
	want := []PushMark{{1, 300, 300.2, PushDelivered}, {2, 800, 1002, PushLate}, {3, 900, 900, PushLost}}
	if fmt.Sprint(a.Pushes) != fmt.Sprint(want) {
		t.Errorf("pushes %v, want %v", a.Pushes, want)
	}
	b := tls[1]
	if fmt.Sprint(b.Conns, b.NetworkChanges) != "[{0 1200 network_change}] [{1000 cellular}]" {
		t.Errorf("phones/2 %v %v", b.Conns, b.NetworkChanges)
	}
	f, err := DeviceTimeline(tls)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, f)
}

func TestTimelineRefusesCrowds(t *testing.T) {
	var devs []string
	for i := range MaxTimelineDevices + 1 {
		devs = append(devs, fmt.Sprintf("phones/%d", i))
	}
	_, err := BuildTimelines(strings.NewReader(synthEvents), "events.jsonl", devs, 0, 0)
	if err == nil || !strings.Contains(err.Error(), "at most 6") {
		t.Errorf("err = %v, want a refusal naming the limit", err)
	}
	_, err = BuildTimelines(strings.NewReader(synthEvents), "events.jsonl", []string{"phones/9"}, 0, 0)
	if err == nil || !strings.Contains(err.Error(), "phones/9") {
		t.Errorf("err = %v, want one naming the missing device", err)
	}
	_, err = BuildTimelines(strings.NewReader("{\"t_s\":1,\"kind\":\"conn_up\",\"device\":\"phones/1\"}\n{bad\n"), "events.jsonl", nil, 0, 0)
	if err == nil {
		t.Error("no error without devices")
	}
	_, err = BuildTimelines(strings.NewReader("{\"t_s\":1,\"device\":\"phones/1\" bad}\n"), "events.jsonl", []string{"phones/1"}, 0, 0)
	if err == nil || !strings.Contains(err.Error(), "events.jsonl:1") {
		t.Errorf("err = %v, want file:line", err)
	}
}
