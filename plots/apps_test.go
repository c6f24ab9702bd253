package plots

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// synthAppsGroups are two groups of the same three apps: one shared
// connection, and one connection per app whose keep-alives each cost as
// much as the shared one's.
func synthAppsGroups() []GroupSummary {
	conn := func(name string, ka, push float64) ConnectionSummary {
		return ConnectionSummary{Name: name, Strategy: "fixed", Apps: 1, KeepalivesPerDeviceHour: 12,
			EnergyJPerDeviceDay:        ka + push + 10,
			EnergyByCauseJPerDeviceDay: map[string]float64{"keepalive": ka, "push": push, "reconnect": 10, "other": 0}}
	}
	shared := conn("shared", 3600, 1500)
	shared.Apps = 3
	return []GroupSummary{
		{Name: "plain", Devices: 10, EnergyByCauseJPerDeviceDay: map[string]float64{"idle": 1700}},
		{Name: "shared", Devices: 10, AppsSummary: AppsSummary{ConnectionsPerDevice: 1, Connections: []ConnectionSummary{shared}}},
		{Name: "own", Devices: 10, AppsSummary: AppsSummary{ConnectionsPerDevice: 3, Connections: []ConnectionSummary{
			conn("chat", 3600, 500), conn("mail", 3600, 500), conn("news", 3600, 500)}}},
	}
}

func TestAppsEnergy(t *testing.T) {
	f, err := AppsEnergy(synthAppsGroups())
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "apps-energy" {
		t.Errorf("name %q", f.Name)
	}
	var lab marks
	for _, n := range f.notes {
		if m, ok := n.(marks); ok {
			lab.X = append(lab.X, m.X...)
			lab.Y = append(lab.Y, m.Y...)
			lab.Labels = append(lab.Labels, m.Labels...)
		}
	}
	// Bars: shared | gap | chat mail news; the group without apps is left
	// out. Labels above each group's tallest bar, with its total.
	want := []string{"shared\n5110 J", "own\n12330 J"}
	if len(lab.Labels) != 2 || lab.Labels[0] != want[0] || lab.Labels[1] != want[1] {
		t.Errorf("group labels %q, want %q", lab.Labels, want)
	}
	if len(lab.X) != 2 || lab.X[0] != 0 || lab.X[1] != 3 || lab.Y[0] != 5110 || lab.Y[1] != 4110 {
		t.Errorf("group labels at %v, %v; want x 0 and 3, y 5110 and 4110", lab.X, lab.Y)
	}
	if y := f.Panels[0].Y.Max; y < 5110 {
		t.Errorf("y max %g below the tallest stack", y)
	}
	checkGolden(t, f)

	bad := synthAppsGroups()
	bad[2].Connections[1].EnergyByCauseJPerDeviceDay["keepalive"] = math.NaN()
	if _, err := AppsEnergy(bad); err == nil || !strings.Contains(err.Error(), "mail") || !strings.Contains(err.Error(), "keepalive") {
		t.Errorf("err = %v, want one naming the connection and cause", err)
	}
	if _, err := AppsEnergy(synthAppsGroups()[:1]); err == nil {
		t.Error("no error without apps")
	}
}

// Render draws apps-energy for a run with apps and says why it cannot:
// a connection's energy that is not a number is an error, not a figure
// left out, and so is asking for the figure by name on a run without apps.
func TestRenderAppsEnergy(t *testing.T) {
	write := func(groups []GroupSummary) string {
		dir := t.TempDir()
		s := synthSummary()
		s.Groups = groups
		writeJSON(t, filepath.Join(dir, SummaryFile), s)
		return dir
	}
	files, err := Render(write(synthAppsGroups()), Options{Figures: []string{"apps-energy"}})
	if err != nil || len(files) != 1 || filepath.Base(files[0]) != "apps-energy.png" {
		t.Fatalf("Render = %v, %v; want apps-energy.png", files, err)
	}
	bad := synthAppsGroups()
	bad[1].Connections[0].EnergyByCauseJPerDeviceDay["push"] = -5
	if _, err := Render(write(bad), Options{}); err == nil || !strings.Contains(err.Error(), "energy_by_cause_j_per_device_day.push") {
		t.Errorf("Render with a negative connection energy: %v, want an error naming the field", err)
	}
	plain := write(synthAppsGroups()[:1])
	if _, err := Render(plain, Options{Figures: []string{"apps-energy"}}); err == nil || !strings.Contains(err.Error(), "no group has apps") {
		t.Errorf("apps-energy asked for on a run without apps: %v", err)
	}
	if _, err := Render(plain, Options{Figures: []string{"energy"}}); err != nil {
		t.Errorf("a run without apps, other figures: %v", err)
	}
}
