package filter

// unionNeeds is what a chain of filters needs: a stage is skipped, or
// goes without a reply, only when every member skips it or never answers
// it (a member that is not live never answers the content stages); edits
// and the two flags are unions.
//
// Macros: nil when any member's is nil (a member that may read any macro
// makes the chain one too); otherwise the union, stage by stage, of the
// members' lists, names compared without braces, in the order they first
// appear. A stage named by a member with an empty list is kept, empty. A
// chain that asks for rejected recipients also reads {rcpt_mailer} at
// RCPT, to keep them from members that did not ask for them. A chain
// without members reads none: an empty map.
func unionNeeds(filters []Filter, live []bool) Needs {
	n := Needs{Skip: AllStages, NoReply: AllStages, Macros: map[Stage][]string{}}
	for i, f := range filters {
		fn := f.Needs()
		n.Skip &= fn.Skip
		quiet := fn.NoReply | fn.Skip // a member never answers a stage it skips
		if !live[i] {
			quiet |= contentStages // nor one it sees only at end of message
		}
		n.NoReply &= quiet
		n.Edits |= fn.Edits
		n.RejectedRecipients = n.RejectedRecipients || fn.RejectedRecipients
		n.HeaderLeadingSpace = n.HeaderLeadingSpace || fn.HeaderLeadingSpace
		n.Macros = mergeMacros(n.Macros, fn.Macros)
	}
	if len(filters) == 0 {
		n.Skip, n.NoReply = 0, 0
	}
	if n.Macros != nil && n.RejectedRecipients {
		n.Macros[StageRcpt] = mergeNames(n.Macros[StageRcpt], []string{"{rcpt_mailer}"})
	}
	return n
}

// mergeMacros adds the lists of add to have, which it owns; nil (any
// macro) absorbs everything.
func mergeMacros(have, add map[Stage][]string) map[Stage][]string {
	if have == nil || add == nil {
		return nil
	}
	for st, names := range add {
		merged := mergeNames(have[st], names)
		if merged == nil {
			merged = []string{}
		}
		have[st] = merged
	}
	return have
}

// mergeNames appends to have the names of add it does not hold yet.
func mergeNames(have, add []string) []string {
	for _, a := range add {
		found := false
		for _, h := range have {
			if CanonicalMacro(h) == CanonicalMacro(a) {
				found = true
				break
			}
		}
		if !found {
			have = append(have, a)
		}
	}
	return have
}
