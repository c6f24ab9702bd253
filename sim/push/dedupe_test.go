package push

import "testing"

func TestDedupeForgetsOldestBeyondWindow(t *testing.T) {
	var d dedupe
	for _, id := range []MsgID{1, 2, 3} {
		if d.repeat(id, 3) {
			t.Fatalf("id %d reported as a repeat on first sight", id)
		}
	}
	if !d.repeat(2, 3) || !d.repeat(1, 3) {
		t.Fatal("ids inside the window not reported as repeats")
	}
	if d.repeat(4, 3) { // forgets 1
		t.Fatal("new id 4 reported as a repeat")
	}
	if d.repeat(1, 3) { // forgotten, so new again; forgets 2
		t.Fatal("id 1 still remembered after the window moved past it")
	}
	if d.repeat(2, 3) { // forgets 3
		t.Fatal("id 2 still remembered after the window moved past it")
	}
	for _, id := range []MsgID{4, 1, 2} {
		if !d.repeat(id, 3) {
			t.Fatalf("id %d of the current window not reported as a repeat", id)
		}
	}
	if len(d.log) != 3 {
		t.Fatalf("window holds %d ids, want 3", len(d.log))
	}
}
