package headers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

// field is a header in a simulated MTA header list.
type field struct {
	name    string
	deleted bool
}

// applyDeletes applies delete edits to names the way an MTA does.
// countDeleted false is Postfix's cleanup (a deleted field leaves the
// occurrence count); true is Sendmail (a deleted field keeps its place).
// It returns the names left.
func applyDeletes(names []string, edits []filter.Edit, countDeleted bool) []string {
	fields := make([]field, len(names))
	for i, n := range names {
		fields[i].name = n
	}
	for _, e := range edits {
		if e.Kind != filter.DeleteHeader {
			continue
		}
		n := e.Index
		for i := range fields {
			if !strings.EqualFold(fields[i].name, e.Name) || (fields[i].deleted && !countDeleted) {
				continue
			}
			if n--; n == 0 {
				fields[i].deleted = true
				break
			}
		}
	}
	var left []string
	for _, f := range fields {
		if !f.deleted {
			left = append(left, f.name)
		}
	}
	return left
}

// TestDeletesRemoveEveryOccurrence checks that the emitted indexes remove
// every occurrence under both MTAs' index semantics, and that the naive
// ascending order would not under Postfix's (so the check can fail).
func TestDeletesRemoveEveryOccurrence(t *testing.T) {
	names := []string{"Received", "X-Spam", "Subject", "X-Spam", "x-spam", "To", "X-SPAM"}
	want := []string{"Received", "Subject", "To"}
	f, err := New(Options{Remove: []string{"X-Spam"}})
	if err != nil {
		t.Fatal(err)
	}
	var msg message
	for _, n := range names {
		msg = append(msg, [2]string{n, "v"})
	}
	edits := runEdits(t, f, msg)
	for _, countDeleted := range []bool{false, true} {
		if got := applyDeletes(names, edits, countDeleted); !reflect.DeepEqual(got, want) {
			t.Errorf("countDeleted=%v: left %q, want %q", countDeleted, got, want)
		}
	}

	var ascending []filter.Edit
	for i := 1; i <= 4; i++ {
		ascending = append(ascending, filter.Edit{Kind: filter.DeleteHeader, Name: "X-Spam", Index: i})
	}
	if got := applyDeletes(names, ascending, false); reflect.DeepEqual(got, want) {
		t.Errorf("ascending deletes removed everything under Postfix semantics; the simulation is wrong")
	}
}

func runEdits(t *testing.T, f *Filter, msg message) []filter.Edit {
	t.Helper()
	s, err := f.NewSession(t.Context(), filter.NoMacros)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range msg {
		s.Header(t.Context(), h[0], h[1])
	}
	m := filter.NewModifier(f.Needs().Edits, nil)
	if v := s.EndOfMessage(t.Context(), m); v != filter.Continue {
		t.Fatalf("EndOfMessage = %v", v)
	}
	return m.Edits()
}
