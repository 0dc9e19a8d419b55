package filter

import "strings"

// Macros gives a filter the facts of the current stage by Sendmail macro
// name, as libmilter's smfi_getsymval does: "j", "_", "i",
// "{client_addr}", "{mail_addr}"... Long names may be given with or without
// braces. The values reflect the stage being called: a session may keep the
// Macros it was opened with and read it at any later stage.
type Macros interface {
	Macro(name string) (value string, ok bool)
}

// MacroMap is a simple Macros backed by a map. Keys are stored in
// canonical form (long names without braces).
type MacroMap map[string]string

// Macro implements Macros.
func (m MacroMap) Macro(name string) (string, bool) {
	v, ok := m[CanonicalMacro(name)]
	return v, ok
}

// Set stores value under name.
func (m MacroMap) Set(name, value string) { m[CanonicalMacro(name)] = value }

// CanonicalMacro strips the braces of a long macro name: "{client_addr}"
// and "client_addr" both become "client_addr"; "j" stays "j".
func CanonicalMacro(name string) string {
	if len(name) > 2 && name[0] == '{' && name[len(name)-1] == '}' {
		return name[1 : len(name)-1]
	}
	return name
}

// WireMacro returns the name as Sendmail and Postfix send it: long names in
// braces, one-character names bare.
func WireMacro(name string) string {
	name = CanonicalMacro(name)
	if len(name) <= 1 || strings.HasPrefix(name, "{") {
		return name
	}
	return "{" + name + "}"
}

// NoMacros is a Macros with no values.
var NoMacros Macros = MacroMap(nil)
