package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/natsim/natsim/plots"
)

// Result files (docs/results.md): the names plots reads, so that the
// writer and the reader cannot drift apart.
const (
	SummaryFile    = plots.SummaryFile
	DevicesFile    = plots.DevicesFile
	EventsFile     = plots.EventsFile
	TimeseriesFile = plots.TimeseriesFile
	PcapFile       = "capture.pcapng"
)

// num formats a float the same way everywhere: shortest round-trip form,
// empty for NaN.
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// Write writes the run's results into dir (created if needed): summary.json,
// devices.csv, events.jsonl, timeseries.csv and, when packets were
// captured, capture.pcapng. The same scenario and seed give byte-identical
// files.
func (r *Result) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("harness: results: %w", err)
	}
	files := []struct {
		format, name string
		fn           func(*bufio.Writer) error
	}{
		{"json", SummaryFile, r.writeSummary},
		{"csv", DevicesFile, r.writeDevices},
		{"jsonl", EventsFile, r.writeEvents},
		{"csv", TimeseriesFile, r.writeSeries},
	}
	for _, f := range files {
		if r.formats != nil && !slices.Contains(r.formats, f.format) {
			continue
		}
		if err := writeFile(filepath.Join(dir, f.name), f.fn); err != nil {
			return err
		}
	}
	if r.pcap != nil {
		if err := os.WriteFile(filepath.Join(dir, PcapFile), r.pcap, 0o644); err != nil {
			return fmt.Errorf("harness: results: %w", err)
		}
	}
	return nil
}

func writeFile(path string, fn func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("harness: results: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	err = fn(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("harness: results: %s: %w", filepath.Base(path), err)
	}
	return nil
}

// SummaryJSON returns summary.json's bytes.
func (r *Result) SummaryJSON() ([]byte, error) {
	s := r.Summary
	if r.recordWall {
		s.WallS = math.Round(r.WallTime.Seconds()*1000) / 1000
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (r *Result) writeSummary(w *bufio.Writer) error {
	b, err := r.SummaryJSON()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (r *Result) writeDevices(w *bufio.Writer) error {
	w.WriteString("device,group,network,strategy,pushes_sent,pushes_delivered,delivery_ratio,latency_p50_s,latency_p99_s,keepalives,reconnects,energy_j,final_interval_s,ontime_ratio")
	if r.apps {
		w.WriteString(",connections,nat_ports_peak,radio_on_s")
	}
	w.WriteString("\n")
	for _, d := range r.Devices {
		fmt.Fprintf(w, "%s,%s,%s,%s,%d,%d,%s,%s,%s,%d,%d,%s,%s,%s", d.Device, d.Group, d.Network, d.Strategy,
			d.PushesSent, d.PushesDelivered, num(d.DeliveryRatio), num(d.LatencyP50S), num(d.LatencyP99S),
			d.Keepalives, d.Reconnects, num(d.EnergyJ), num(d.FinalIntervalS), num(d.OnTimeRatio))
		if r.apps {
			fmt.Fprintf(w, ",%d,%d,%s", d.Connections, d.NATPortsPeak, num(d.RadioOnS))
		}
		w.WriteString("\n")
	}
	return nil
}

func (r *Result) writeEvents(w *bufio.Writer) error {
	for _, e := range r.events {
		w.WriteString(`{"t_s":`)
		w.WriteString(num(e.t.Seconds()))
		w.WriteString(`,"kind":"`)
		w.WriteString(e.kind)
		w.WriteString(`","device":`)
		q, _ := json.Marshal(e.device)
		w.Write(q)
		if e.reason != "" {
			w.WriteString(`,"reason":"` + e.reason + `"`)
		}
		if e.id != 0 {
			w.WriteString(`,"id":` + strconv.FormatUint(e.id, 10))
		}
		if e.kind == "push_delivered" {
			w.WriteString(`,"latency_s":` + num(e.latency))
		}
		if e.layer != "" {
			w.WriteString(`,"layer":"` + e.layer + `"`)
		}
		if e.network != "" {
			q, _ := json.Marshal(e.network)
			w.WriteString(`,"network":`)
			w.Write(q)
		}
		if e.kind == "interval_changed" {
			w.WriteString(`,"interval_s":` + num(e.interval))
		}
		if e.app != "" {
			w.WriteString(`,"app":"` + e.app + `"`)
		}
		w.WriteString("}\n")
	}
	return nil
}

func (r *Result) writeSeries(w *bufio.Writer) error {
	w.WriteString("t_s,group,metric,value\n")
	for _, s := range r.series {
		fmt.Fprintf(w, "%s,%s,%s,%s\n", num(s.t.Seconds()), s.group, s.metric, num(s.value))
	}
	return nil
}
