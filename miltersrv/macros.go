package miltersrv

import "github.com/sluice-mta/sluice/milter"

// macroStore keeps the macros the MTA sent, per command they preceded, and
// answers look-ups from the most recent stage back, as libmilter's
// smfi_getsymval does. A new MAIL (or an abort) forgets the transaction's
// macros; a new connect forgets everything.
type macroStore struct {
	// sets holds, per macroOrder index, the pairs as on the wire
	// (NUL-terminated names and values); the buffers are reused.
	sets [len(macroOrder)][]byte
	// arena backs the first buffer of each set, so a connection makes one
	// allocation for its macros rather than one per stage.
	arena []byte
}

// macroArena is the size of a connection's macro arena: room for the
// sets Postfix sends with its default milter_*_macros, with headroom.
const macroArena = 1024

// macroOrder lists the commands macros may precede, most recent stage
// first: the look-up order.
var macroOrder = [...]byte{
	milter.CmdEndOfBody, milter.CmdEndOfHeaders, milter.CmdHeader, milter.CmdBody,
	milter.CmdData, milter.CmdRcpt, milter.CmdMail, milter.CmdUnknown, milter.CmdHelo, milter.CmdConnect,
}

func macroIndex(code byte) int {
	for i, c := range macroOrder {
		if c == code {
			return i
		}
	}
	return -1
}

// set stores the pairs (as milter.ScanMacro returns them) sent before
// command code.
func (m *macroStore) set(code byte, pairs []byte) {
	switch code {
	case milter.CmdConnect:
		m.clear(0)
	case milter.CmdMail:
		m.clearTransaction()
	}
	if i := macroIndex(code); i >= 0 {
		if cap(m.sets[i]) == 0 {
			m.sets[i] = m.carve(len(pairs))
		}
		m.sets[i] = append(m.sets[i][:0], pairs...)
	}
}

// carve returns an empty slice of the arena with room for n bytes and
// some headroom, or nil when the arena is full (append then allocates).
func (m *macroStore) carve(n int) []byte {
	if m.arena == nil {
		m.arena = make([]byte, 0, macroArena)
	}
	size := min(n+n/2+16, cap(m.arena)-len(m.arena))
	if size < n {
		return nil
	}
	start := len(m.arena)
	m.arena = m.arena[:start+size]
	return m.arena[start : start : start+size]
}

func (m *macroStore) clear(from int) {
	for i := from; i < len(m.sets); i++ {
		m.sets[i] = m.sets[i][:0]
	}
}

// clearTransaction forgets the macros of MAIL and later stages.
func (m *macroStore) clearTransaction() {
	for i := 0; i <= macroIndex(milter.CmdMail); i++ {
		m.sets[i] = m.sets[i][:0]
	}
}

// Macro implements filter.Macros.
func (m *macroStore) Macro(name string) (string, bool) {
	for _, pairs := range m.sets {
		if v, ok := milter.LookupMacro(pairs, name); ok {
			return v, true
		}
	}
	return "", false
}
