package filter

import "strings"

// HeaderField is one header field of a message: its name and its value as
// received (folding kept).
type HeaderField struct {
	Name, Value string
}

// ApplyHeaderEdit applies one header edit to fields the way Postfix's
// cleanup applies a milter's: AddHeader appends; InsertHeader inserts at
// Index (0 is the top; past the end appends); ChangeHeader replaces the
// Index-th (1-based) field called Name, case-insensitively, and appends the
// field when there are fewer; DeleteHeader removes that field, if any, so a
// later index counts only the fields still there. Other edits leave fields
// as they are. It returns the new list, which may share fields' storage.
func ApplyHeaderEdit(fields []HeaderField, e Edit) []HeaderField {
	switch e.Kind {
	case AddHeader:
		return append(fields, HeaderField{e.Name, e.Value})
	case InsertHeader:
		i := min(max(e.Index, 0), len(fields))
		fields = append(fields, HeaderField{})
		copy(fields[i+1:], fields[i:])
		fields[i] = HeaderField{e.Name, e.Value}
		return fields
	case ChangeHeader:
		if i := nthField(fields, e.Name, e.Index); i >= 0 {
			fields[i].Value = e.Value
			return fields
		}
		return append(fields, HeaderField{e.Name, e.Value})
	case DeleteHeader:
		if i := nthField(fields, e.Name, e.Index); i >= 0 {
			return append(fields[:i], fields[i+1:]...)
		}
	}
	return fields
}

// nthField returns the position of the n-th (1-based) field called name,
// or -1.
func nthField(fields []HeaderField, name string, n int) int {
	for i, f := range fields {
		if strings.EqualFold(f.Name, name) {
			n--
			if n == 0 {
				return i
			}
		}
	}
	return -1
}

// IsHeaderEdit reports whether k edits the header section.
func (k EditKind) IsHeaderEdit() bool {
	return k == AddHeader || k == InsertHeader || k == ChangeHeader || k == DeleteHeader
}
