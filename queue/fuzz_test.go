package queue

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeRecord: the record decoder never panics, and whatever it
// accepts survives an encode/decode round trip unchanged. Seeds are in
// testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(sampleJSON))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		r2, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("encoded record does not decode: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
		}
		enc2, err := encodeRecord(r2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable (%v):\n%s\n%s", err, enc, enc2)
		}
	})
}

// FuzzEmbedded: reading the record at the end of a content file never
// panics, and what it accepts lies within the file and re-encodes to the
// bytes it was read from. Seeds are in testdata/fuzz/FuzzEmbedded.
func FuzzEmbedded(f *testing.F) {
	f.Add(appendTail([]byte(testHeader+"body\r\n"), []byte(sampleJSON)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, size, err := readEmbedded(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if size < 0 || size > int64(len(b)) {
			t.Fatalf("content size %d in a file of %d bytes", size, len(b))
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("embedded record does not encode: %v", err)
		}
		if _, _, err := readEmbedded(bytes.NewReader(appendTail(b[:size:size], enc)), size+int64(len(enc)+trailerLen)); err != nil {
			t.Fatalf("re-encoded record does not read back: %v", err)
		}
	})
}
