package scenarios

import (
	"strings"
	"testing"
)

// cgn is a minimal scenario with a shared CGNAT layer.
const cgn = `name: t
duration: 1h
networks:
  cell:
    kind: cellular
    nat: [{preset: cgnat-typical, public_addresses: 16}]
groups:
  phones:
    count: 2
    network: cell
    strategy: {name: fixed, interval: 60s}
`

func TestPublicAddresses(t *testing.T) {
	s, err := Load("t.yaml", []byte(cgn))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Networks["cell"].NAT[0].PublicAddresses; got != 16 {
		t.Errorf("public_addresses = %d, want 16", got)
	}
	tests := []struct{ name, src, want string }{
		{"zero", strings.Replace(cgn, "public_addresses: 16", "public_addresses: 0", 1),
			`t.yaml:6:53: networks.cell.nat[0].public_addresses: must be at least 1, got 0`},
		{"too many", strings.Replace(cgn, "public_addresses: 16", "public_addresses: 70000", 1),
			`t.yaml:6:53: networks.cell.nat[0].public_addresses: 70000 addresses, at most 65536`},
		{"per-device layer", strings.Replace(cgn, "public_addresses: 16", "public_addresses: 2, scope: per-device", 1),
			`t.yaml:6:53: networks.cell.nat[0].public_addresses: applies to a shared layer only; a per-device layer has one public address per device`},
		{"not a number", strings.Replace(cgn, "public_addresses: 16", "public_addresses: many", 1),
			`t.yaml:6:53: networks.cell.nat[0].public_addresses: expected an integer, got string "many"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("t.yaml", []byte(tc.src))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got\n%v\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestUnknownNATNamesSuggestNearest(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"preset: cgnat-typical", "preset: cgnat-typicl", `unknown NAT preset "cgnat-typicl" (did you mean "cgnat-typical"?)`},
		{"preset: cgnat-typical", "preset: carrier-agressive", `unknown NAT preset "carrier-agressive" (did you mean "carrier-aggressive"?)`},
		{"preset: cgnat-typical", "preset: zzz", `unknown NAT preset "zzz"`},
		{"preset: cgnat-typical", "mixture: cellular-201", `unknown NAT mixture "cellular-201" (did you mean "cellular-2011"?)`},
	} {
		_, err := Load("t.yaml", []byte(strings.Replace(cgn, tc.from, tc.to, 1)))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want it to end %s", tc.to, err, tc.want)
		}
	}
	// A catalog that cannot suggest still names the unknown preset.
	cat := &StaticCatalog{NATPresets: []string{"cgnat-typical"}, Strategies: map[string][]Param{"fixed": {{Name: "interval", Kind: ParamDuration}}}}
	_, err := (&Loader{Catalog: cat}).Load("t.yaml", []byte(strings.Replace(cgn, "preset: cgnat-typical", "preset: cgnat-typicl", 1)))
	if err == nil || !strings.HasSuffix(err.Error(), `unknown NAT preset "cgnat-typicl"`) {
		t.Errorf("static catalog: %v", err)
	}
}
