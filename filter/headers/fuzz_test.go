package headers

import "testing"

// FuzzParseHeader checks that ParseHeader never panics, that what it
// accepts New accepts too, and that a parsed header survives a round trip
// through its "Name: value" form.
func FuzzParseHeader(f *testing.F) {
	f.Add("X-Filtered-By: sluice")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			return
		}
		if _, err := New(Options{Add: []Header{h}}); err != nil {
			t.Fatalf("ParseHeader(%q) = %+v, which New refuses: %v", s, h, err)
		}
		again, err := ParseHeader(h.String())
		if err != nil || again != h {
			t.Fatalf("round trip of %+v: %+v, %v", h, again, err)
		}
	})
}
