package dmarc

import (
	"strings"
)

// maxItems bounds the items read from one header field value.
const maxItems = 256

// item is one lexical item of a structured field value: a word (a run of
// characters that are not white space, parentheses, quotes, ";" or
// "="), a quoted string (unquoted), or one of the specials ";" and "=".
type item struct {
	text    string
	special byte // ';' or '=', 0 for a word or quoted string
}

// lex splits v into items, skipping white space (folding included) and
// comments, nested as RFC 5322 §3.2.2 allows. An unterminated comment or
// quoted string ends the value. At most maxItems items are returned.
func lex(v string) []item {
	var out []item
	for i := 0; i < len(v) && len(out) < maxItems; {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			i = skipComment(v, i)
		case c == ';' || c == '=':
			out = append(out, item{text: string(c), special: c})
			i++
		case c == '"':
			var s string
			s, i = quotedString(v, i)
			out = append(out, item{text: s})
		default:
			j := i
			for j < len(v) && !strings.ContainsRune(" \t\r\n()\";=", rune(v[j])) {
				j++
			}
			out = append(out, item{text: v[i:j]})
			i = j
		}
	}
	return out
}

// skipComment returns the position after the comment starting at v[i].
func skipComment(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(v)
}

// quotedString returns the content of the quoted string starting at v[i]
// and the position after it.
func quotedString(v string, i int) (string, int) {
	var b strings.Builder
	for i++; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
		case '"':
			return b.String(), i + 1
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(v)
}

// resinfo is one result of an Authentication-Results field: its method
// ("dkim"), result ("pass") and properties ("header.d" → "example.com"),
// keys in lower case.
type resinfo struct {
	method, result string
	props          map[string]string
}

// parseAuthResults reads an Authentication-Results value (RFC 8601 §2.2):
// the authserv-id and the results. ok is false when there is no
// authserv-id.
func parseAuthResults(v string) (id string, results []resinfo, ok bool) {
	items := lex(v)
	if len(items) == 0 || items[0].special != 0 || items[0].text == "" {
		return "", nil, false
	}
	id = items[0].text
	for _, stmt := range splitStatements(items[1:])[1:] {
		r, ok := parseResinfo(stmt)
		if ok {
			results = append(results, r)
		}
	}
	return id, results, true
}

// splitStatements cuts items at each ";". The first statement is what
// comes before the first ";".
func splitStatements(items []item) [][]item {
	out := [][]item{nil}
	for _, it := range items {
		if it.special == ';' {
			out = append(out, nil)
			continue
		}
		out[len(out)-1] = append(out[len(out)-1], it)
	}
	return out
}

// parseResinfo reads "method[/version]=result [reason=v] [ptype.prop=v]...".
func parseResinfo(stmt []item) (resinfo, bool) {
	pairs := keyValues(stmt)
	if len(pairs) == 0 {
		return resinfo{}, false
	}
	method, _, _ := strings.Cut(pairs[0][0], "/")
	r := resinfo{method: method, result: strings.ToLower(pairs[0][1]), props: map[string]string{}}
	for _, p := range pairs[1:] {
		if _, seen := r.props[p[0]]; !seen {
			r.props[p[0]] = p[1]
		}
	}
	return r, r.method != "" && r.result != ""
}

// keyValues reads "key=value" pairs from items; keys are lower-cased,
// items that are no pair are passed over.
func keyValues(items []item) [][2]string {
	var out [][2]string
	for i := 0; i+2 < len(items); i++ {
		if items[i].special == 0 && items[i+1].special == '=' && items[i+2].special == 0 {
			out = append(out, [2]string{strings.ToLower(items[i].text), items[i+2].text})
			i += 2
		}
	}
	return out
}

// spfInfo is what a Received-SPF field says.
type spfInfo struct {
	result       string // lower case
	identity     string // "mailfrom", "helo" or "" when not said
	envelopeFrom string
	hasFrom      bool // envelope-from was given
	helo         string
}

// parseReceivedSPF reads a Received-SPF value (RFC 7208 §9.1): the
// result, an optional comment, and key=value pairs separated by ";".
func parseReceivedSPF(v string) (spfInfo, bool) {
	items := lex(v)
	if len(items) == 0 || items[0].special != 0 || items[0].text == "" {
		return spfInfo{}, false
	}
	info := spfInfo{result: strings.ToLower(items[0].text)}
	for _, p := range keyValues(items[1:]) {
		switch p[0] {
		case "identity":
			info.identity = strings.ToLower(p[1])
		case "envelope-from":
			info.envelopeFrom, info.hasFrom = p[1], true
		case "helo":
			info.helo = p[1]
		}
	}
	return info, true
}
