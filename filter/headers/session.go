package headers

import (
	"context"
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// session counts, per name to remove, the fields the message carries.
type session struct {
	filter.Base
	f      *Filter
	counts []int // parallel to f.remove
}

// Header counts the field when its name is one to remove. The name is
// compared without trailing white space, as Postfix does ("Subject :").
func (s *session) Header(_ context.Context, name, _ string) filter.Verdict {
	name = strings.TrimRight(name, " \t")
	for i, r := range s.f.remove {
		if strings.EqualFold(r, name) {
			s.counts[i]++
			break
		}
	}
	return filter.Continue
}

// EndOfMessage deletes every counted field, highest index first, then
// appends the configured fields. An edit the engine refuses yields a
// temporary failure rather than a message that skipped its edits.
func (s *session) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	defer s.reset()
	for i, name := range s.f.remove {
		for n := s.counts[i]; n >= 1; n-- {
			if err := m.DeleteHeader(name, n); err != nil {
				return filter.TempFail
			}
		}
	}
	for _, h := range s.f.add {
		if err := m.AddHeader(h.Name, h.Value); err != nil {
			return filter.TempFail
		}
	}
	return filter.Continue
}

// Abort forgets the counts of the abandoned message.
func (s *session) Abort(context.Context) { s.reset() }

func (s *session) reset() { clear(s.counts) }
