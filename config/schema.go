package config

import (
	"fmt"
	"sort"
	"strings"
)

// scalarDefaults returns every key that the environment and flags can set,
// with its default. Together they run on loopback without a file.
func scalarDefaults() map[string]any {
	return map[string]any{
		"hostname":  "localhost",
		"data_dir":  "./var",
		"log_level": "info",

		"smtp.listen":                 []string{"127.0.0.1:2525"},
		"smtp.relay_domains":          []string{},
		"smtp.trusted_networks":       []string{"127.0.0.0/8", "::1/128"},
		"smtp.xclient_hosts":          []string{},
		"smtp.xforward_hosts":         []string{},
		"smtp.max_message_size":       "50MiB",
		"smtp.max_recipients":         1000,
		"smtp.max_connections":        1000,
		"smtp.max_connections_per_ip": 50,
		"smtp.bare_lf":                BareLFReject,
		"smtp.tls.cert_file":          "",
		"smtp.tls.key_file":           "",
		"smtp.auth.users_file":        "",
		"smtp.command_timeout":        "5m",
		"smtp.data_timeout":           "5m",
		"smtp.connection_timeout":     "1h",
		"smtp.shutdown_timeout":       "30s",
		"smtp.resolve_client_names":   true,
		"smtp.dns_timeout":            "5s",
		"smtp.proxy_networks":         []string{},
		"smtp.verify_recipients":      false,
		"smtp.verify_cache_ttl":       "1h",
		"smtp.verify_negative_ttl":    "10m",
		"smtp.verify_timeout":         "30s",
		"smtp.verify_on_error":        VerifyOnErrorTempfail,

		"queue.dir":             "",
		"queue.retry":           []string{"1m", "5m", "15m", "1h", "4h"},
		"queue.max_age":         "5d",
		"queue.log_max_message": "128KiB",
		"queue.segment_size":    "64MiB",

		"downstream.address":  "maildir:./var/mail",
		"downstream.tls":      "opportunistic",
		"downstream.xclient":  true,
		"downstream.xforward": true,

		"milter_server.listen":            "inet:8890@127.0.0.1",
		"milter_server.max_connections":   1000,
		"milter_server.read_timeout":      "7m",
		"milter_server.write_timeout":     "30s",
		"milter_server.shutdown_timeout":  "30s",
		"milter_server.failure_action":    "tempfail",
		"milter_server.progress_interval": "10s",
		"milter_server.max_packet":        "0",

		"metrics.listen": "",
	}
}

// milterDefaults returns the defaults of a [[milters]] entry ("name" and
// "address" have none: name defaults to the address, address is required).
func milterDefaults() map[string]any {
	return map[string]any{
		"default_action":  "tempfail",
		"connect_timeout": "5s",
		"command_timeout": "30s",
		"eom_timeout":     "5m",
		"max_idle_conns":  0,
		"idle_timeout":    "30s",
	}
}

// node is one level of the key schema: a leaf, a table, or an array of
// tables whose elements share one schema.
type node struct {
	table map[string]*node
	array *node
}

// add inserts the dotted path as a leaf, creating tables on the way.
func (n *node) add(path string) *node {
	cur := n
	for _, part := range strings.Split(path, ".") {
		if cur.table == nil {
			cur.table = map[string]*node{}
		}
		next, ok := cur.table[part]
		if !ok {
			next = &node{}
			cur.table[part] = next
		}
		cur = next
	}
	return cur
}

// addArray inserts path as an array of tables with the given element keys.
func (n *node) addArray(path string, keys ...string) *node {
	elem := &node{table: map[string]*node{}}
	for _, k := range keys {
		elem.add(k)
	}
	n.add(path).array = elem
	return elem
}

// schema returns every key the file may hold.
func schema() *node {
	root := &node{}
	for k := range scalarDefaults() {
		root.add(k)
	}
	root.addArray("milters", "name", "address", "default_action",
		"connect_timeout", "command_timeout", "eom_timeout", "max_idle_conns", "idle_timeout")
	root.add("filters").table = map[string]*node{}
	root.add("filters.headers.add")
	root.add("filters.headers.remove")
	for _, k := range dkimKeys() {
		root.add("filters.dkim." + k)
	}
	root.addArray("filters.dkim.keys", dkimKeyKeys...)
	for _, k := range spfKeys() {
		root.add("filters.spf." + k)
	}
	for _, k := range dmarcKeys() {
		root.add("filters.dmarc." + k)
	}
	for _, k := range rateLimitKeys() {
		root.add("filters.ratelimit." + k)
	}
	for _, k := range greylistKeys() {
		root.add("filters.greylist." + k)
	}
	root.addArray("filters.access.rules", "client", "helo", "sender",
		"recipient", "action", "reply", "reason")
	for _, k := range dnsblKeys {
		root.add("filters.dnsbl." + k)
	}
	return root
}

// checkKeys reports every key of the file that the schema does not know,
// and every table or array of tables written as something else. It returns
// false when the shape is wrong (a table or array of tables written as a
// value); unknown keys alone leave it true.
func checkKeys(n *node, path string, v any, report func(key, msg string)) bool {
	switch {
	case n.array != nil:
		list, ok := v.([]any)
		if !ok {
			report(path, fmt.Sprintf("want an array of tables ([[%s]]), got %s", path, describe(v)))
			return false
		}
		shapeOK := true
		for i, e := range list {
			shapeOK = checkKeys(n.array, fmt.Sprintf("%s[%d]", path, i), e, report) && shapeOK
		}
		return shapeOK
	case n.table != nil:
		m, ok := v.(map[string]any)
		if !ok {
			report(path, wantTable(path, v))
			return false
		}
		shapeOK := true
		for _, k := range sortedKeys(m) {
			child, ok := n.table[k]
			if !ok {
				report(join(path, k), unknownMsg(path, k, n.table))
				continue
			}
			shapeOK = checkKeys(child, join(path, k), m[k], report) && shapeOK
		}
		return shapeOK
	}
	return true
}

func wantTable(path string, v any) string {
	if strings.HasSuffix(path, "]") {
		return "want a table, got " + describe(v)
	}
	return fmt.Sprintf("want a table ([%s]), got %s", path, describe(v))
}

func unknownMsg(path, k string, known map[string]*node) string {
	if path == "filters" {
		return "unknown filter (have " + strings.Join(sortedKeys(known), ", ") + ")"
	}
	return "unknown key" + suggest(k, known)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	if k == "" {
		return path
	}
	return path + "." + k
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest names the known key closest to a misspelt one, if any is close.
func suggest(k string, known map[string]*node) string {
	best, bestDist := "", 3
	for _, cand := range sortedKeys(known) {
		if d := editDistance(strings.ToLower(k), cand); d < bestDist {
			best, bestDist = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between two short keys.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names the TOML type of a decoded value for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64, int:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	default:
		return fmt.Sprintf("%T", v)
	}
}
