package xclient

import (
	"reflect"
	"strings"
	"testing"
)

// Seeds for these targets live in testdata/fuzz/<FuzzName>/ and are
// replayed by a plain `go test`.

// FuzzParse feeds arbitrary command arguments to Parse: it must never
// panic, and whatever it accepts must survive Commands and Parse again
// unchanged, on lines within MaxLine.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, args string) {
		attrs, err := Parse(args)
		if err != nil {
			return
		}
		for _, a := range attrs {
			if a.Name != strings.ToUpper(a.Name) || a.Name == "" || a.Value == "" {
				t.Fatalf("Parse(%q) returned %+v", args, a)
			}
		}
		lines, err := Commands(VerbXClient, attrs)
		if err != nil {
			return // one attribute too long for a line: fine for input
		}
		var again []Attr
		for _, l := range lines {
			if len(l)+2 > MaxLine {
				t.Fatalf("Commands made a line of %d octets", len(l)+2)
			}
			rest, ok := strings.CutPrefix(l, VerbXClient+" ")
			if !ok {
				t.Fatalf("line %q does not start with the verb", l)
			}
			got, err := Parse(rest)
			if err != nil {
				t.Fatalf("Parse(%q) of our own encoding: %v", rest, err)
			}
			again = append(again, got...)
		}
		if !reflect.DeepEqual(again, attrs) {
			t.Fatalf("round trip of %q: %v became %v", args, attrs, again)
		}
	})
}

// FuzzXtext checks that decoding never panics, that every byte string
// survives encoding and decoding, and that an encoding is canonical.
func FuzzXtext(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeXtext(s); err == nil {
			if again, err := DecodeXtext(EncodeXtext(dec)); err != nil || again != dec {
				t.Fatalf("re-encoding %q: %q, %v", dec, again, err)
			}
		}
		enc := EncodeXtext(s)
		for i := 0; i < len(enc); i++ {
			if enc[i] < '!' || enc[i] > '~' || enc[i] == '=' {
				t.Fatalf("EncodeXtext(%q) = %q holds byte 0x%02x", s, enc, enc[i])
			}
		}
		dec, err := DecodeXtext(enc)
		if err != nil || dec != s {
			t.Fatalf("DecodeXtext(EncodeXtext(%q)) = %q, %v", s, dec, err)
		}
	})
}
