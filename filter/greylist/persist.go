package greylist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the version of the state file's format.
const stateVersion = 1

// maxEntryBytes bounds the bytes of one entry when the state file is read.
const maxEntryBytes = 4096

// stateFile is the JSON form of the state: human-readable, one object.
type stateFile struct {
	Version  int           `json:"version"`
	Triplets []tripletJSON `json:"triplets"`
	Clients  []clientJSON  `json:"clients"`
}

type tripletJSON struct {
	Client    string    `json:"client"` // network, e.g. "192.0.2.0/24"
	Sender    string    `json:"sender"`
	Recipient string    `json:"recipient"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Passed    time.Time `json:"passed,omitzero"`
}

type clientJSON struct {
	Client string    `json:"client"`
	Count  int       `json:"count"`
	Last   time.Time `json:"last"`
}

// state is a decoded state file.
type state struct {
	triplets map[tripletKey]*triplet
	clients  map[netip.Prefix]*client
}

// decodeState parses and checks a state file: the version, every
// network (masked, as written by this package), every time set, counts
// positive. Any defect refuses the whole file.
func decodeState(data []byte) (*state, error) {
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, err
	}
	if sf.Version != stateVersion {
		return nil, fmt.Errorf("unknown version %d (want %d)", sf.Version, stateVersion)
	}
	st := &state{triplets: make(map[tripletKey]*triplet, len(sf.Triplets)), clients: make(map[netip.Prefix]*client, len(sf.Clients))}
	for i, t := range sf.Triplets {
		n, err := parseNet(t.Client)
		if err == nil && (t.First.IsZero() || t.Last.Before(t.First)) {
			err = errors.New("first must be set and not after last")
		}
		if err != nil {
			return nil, fmt.Errorf("triplets[%d]: %w", i, err)
		}
		st.triplets[tripletKey{n, t.Sender, t.Recipient}] = &triplet{first: t.First, last: t.Last, passed: t.Passed}
	}
	for i, c := range sf.Clients {
		n, err := parseNet(c.Client)
		if err == nil && (c.Count <= 0 || c.Last.IsZero()) {
			err = errors.New("count must be > 0 and last set")
		}
		if err != nil {
			return nil, fmt.Errorf("clients[%d]: %w", i, err)
		}
		st.clients[n] = &client{count: c.Count, last: c.Last}
	}
	return st, nil
}

func parseNet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q", s)
	}
	if p.Masked() != p || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("network %q is not in canonical form", s)
	}
	return p, nil
}

// encode returns the JSON form of the store.
func (s *store) encode() ([]byte, error) {
	s.mu.Lock()
	sf := stateFile{Version: stateVersion, Triplets: make([]tripletJSON, 0, len(s.triplets)), Clients: make([]clientJSON, 0, len(s.clients))}
	for k, t := range s.triplets {
		sf.Triplets = append(sf.Triplets, tripletJSON{Client: k.net.String(), Sender: k.from, Recipient: k.to,
			First: t.first, Last: t.last, Passed: t.passed})
	}
	for n, c := range s.clients {
		sf.Clients = append(sf.Clients, clientJSON{Client: n.String(), Count: c.count, Last: c.last})
	}
	s.mu.Unlock()
	return json.Marshal(sf)
}

// merge adds what st holds to the store: for an entry both know, the
// earliest first attempt and pass, the latest sighting, the larger count.
// Expired entries are dropped, and the maps bounded again.
func (s *store) merge(now time.Time, st *state) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range st.triplets {
		if s.tripletDead(now, t) {
			continue
		}
		if m := s.triplets[k]; m != nil {
			t.first, t.last = earliest(m.first, t.first), latest(m.last, t.last)
			if t.passed.IsZero() || !m.passed.IsZero() && m.passed.Before(t.passed) {
				t.passed = m.passed
			}
		}
		s.triplets[k] = t
	}
	for n, c := range st.clients {
		if s.clientDead(now, c) {
			continue
		}
		if m := s.clients[n]; m != nil {
			c.count, c.last = max(m.count, c.count), latest(m.last, c.last)
		}
		s.clients[n] = c
	}
	if len(s.triplets) > s.lim.max {
		evict(s.triplets, s.lim.max, func(t *triplet) bool { return s.tripletDead(now, t) },
			func(t *triplet) time.Time { return t.last })
	}
	if len(s.clients) > s.lim.max {
		evict(s.clients, s.lim.max, func(c *client) bool { return s.clientDead(now, c) },
			func(c *client) time.Time { return c.last })
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// readState reads the state file: nil without error when there is none.
// A file that does not decode is moved aside with a warning.
func (f *Filter) readState() (*state, error) {
	path := f.opts.StateFile
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	limit := int64(2*f.opts.MaxEntries+1) * maxEntryBytes
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	st, err := decodeState(data)
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	if err != nil {
		bad := path + ".bad"
		f.log.Warn("greylist: unreadable state file moved aside; starting empty", "file", path, "moved_to", bad, "err", err)
		if rerr := os.Rename(path, bad); rerr != nil {
			return nil, fmt.Errorf("moving aside the unreadable %s: %w", path, rerr)
		}
		return nil, nil
	}
	return st, nil
}

// load reads the state file into the store at New.
func (f *Filter) load() error {
	st, err := f.readState()
	if err != nil {
		return &OptionError{"state_file", err}
	}
	if st != nil {
		now := f.opts.Now()
		f.st.merge(now, st)
		f.st.prune(now)
	}
	return nil
}

// Save merges what the state file holds (another filter's writes) into
// memory, drops expired entries and writes the state file atomically. It
// does nothing without a StateFile. New and Close call it as needed; a
// program may call it to write the file at a moment of its choosing.
func (f *Filter) Save() error {
	if f.opts.StateFile == "" {
		return nil
	}
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	st, err := f.readState()
	if err != nil {
		return err
	}
	now := f.opts.Now()
	if st != nil {
		f.st.merge(now, st)
	}
	f.st.prune(now)
	data, err := f.st.encode()
	if err != nil {
		return err
	}
	return writeAtomic(f.opts.StateFile, data)
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, fsynced, renamed over path, then the directory fsynced.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
