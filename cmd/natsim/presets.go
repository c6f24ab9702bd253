package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
)

func cmdPresets(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("presets", "", stderr)
	if _, err := parse(fs, args); err != nil {
		return parseExit(err)
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAT PRESETS")
	for _, p := range nat.Presets() {
		d := p.Description
		if len(p.Layers) > 0 {
			d += " [chain: " + strings.Join(p.Layers, " inside ") + "]"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", p.Name, d)
		for _, s := range p.Sources {
			fmt.Fprintf(tw, "  \t  source: %s\n", s)
		}
		for _, a := range p.Assumptions {
			fmt.Fprintf(tw, "  \t  assumed: %s\n", a)
		}
	}
	fmt.Fprintln(tw, "\nNAT MIXTURES")
	for _, m := range nat.Mixtures() {
		fmt.Fprintf(tw, "  %s\t%s\n", m.Name, m.Description)
		for _, c := range m.Components {
			fmt.Fprintf(tw, "  \t  %s: weight %g, preset %s\n", c.Label, c.Weight, c.Preset)
		}
		for _, s := range m.Sources {
			fmt.Fprintf(tw, "  \t  source: %s\n", s)
		}
	}
	fmt.Fprintln(tw, "\nSTRATEGIES")
	for _, p := range strategy.Presets() {
		fmt.Fprintf(tw, "  %s\t%s\n", p.Name, p.Summary)
		var ps []string
		for _, q := range p.Params() {
			ps = append(ps, q.Name+" ("+q.Kind.String()+", default "+q.Default+")")
		}
		if len(ps) > 0 {
			fmt.Fprintf(tw, "  \t  params: %s\n", strings.Join(ps, ", "))
		}
		fmt.Fprintf(tw, "  \t  source: %s\n", p.Source)
	}
	fmt.Fprintln(tw, "\nRADIO PRESETS")
	for _, p := range radio.Presets() {
		note := ""
		if p.Placeholder {
			note = " (placeholder numbers)"
		}
		fmt.Fprintf(tw, "  %s\tisolated packet %.2f J, idle %.3f W%s\n", p.Name, p.IsolatedPacketJ(), p.IdlePowerW, note)
		fmt.Fprintf(tw, "  \t  source: %s\n", p.Source)
	}
	tw.Flush()
	return exitOK
}
