package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Operations from a process that does not own the queue travel as files
// in ctl/:
//
//	NAME.req   the request (JSON ctlRequest), written as NAME.tmp and renamed
//	NAME.work  the owner claimed it (rename of .req), and is applying it
//	NAME.res   the answer (JSON ctlReply), written as NAME.rtmp and renamed
//
// The requester polls for NAME.res. When it gives up it removes NAME.req:
// if that succeeds the owner never saw the request and nothing was done.

type ctlRequest struct {
	Op     string `json:"op"` // hold, release, delete, flush
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type ctlReply struct {
	Error    string `json:"error,omitempty"`
	NotFound bool   `json:"not_found,omitempty"`
	Count    int    `json:"count,omitempty"`
}

const (
	maxCtlFile  = 64 << 10
	ctlPoll     = 20 * time.Millisecond
	ctlStaleAge = 10 * time.Minute
)

// request sends req to the owning process and waits for its answer.
func (q *Queue) request(ctx context.Context, req ctlRequest) (int, error) {
	if req.ID != "" && !validID(req.ID) {
		return 0, fmt.Errorf("%w: %q", ErrNotFound, req.ID)
	}
	name := fmt.Sprintf("%d-%s", os.Getpid(), q.ids.next(time.Now()))
	base := filepath.Join(q.ctldir, name)
	data, _ := json.Marshal(req)
	if err := os.WriteFile(base+".tmp", data, 0o600); err != nil {
		return 0, fmt.Errorf("queue: control request: %w", err)
	}
	if err := os.Rename(base+".tmp", base+".req"); err != nil {
		os.Remove(base + ".tmp")
		return 0, fmt.Errorf("queue: control request: %w", err)
	}
	owner := "pid " + q.ownerPID
	if q.ownerPID == "" {
		owner = "unknown pid"
	}
	ctx, cancel := context.WithTimeout(ctx, q.opts.ControlTimeout)
	defer cancel()
	rep, err := waitReply(ctx, base)
	if err != nil {
		if os.Remove(base+".req") == nil {
			return 0, fmt.Errorf("queue: the process owning the queue (%s) did not take the request within %s; nothing was done",
				owner, q.opts.ControlTimeout)
		}
		// Claimed: give the owner a moment more to answer.
		wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer wcancel()
		if rep, err = waitReply(wctx, base); err != nil {
			return 0, fmt.Errorf("queue: the process owning the queue (%s) took the request but did not answer; check with `sluice queue show`", owner)
		}
	}
	switch {
	case rep.NotFound:
		return 0, fmt.Errorf("%w: %s", ErrNotFound, req.ID)
	case rep.Error != "":
		return 0, errors.New(rep.Error)
	}
	return rep.Count, nil
}

// waitReply polls for base.res until ctx ends, then reads and removes it.
func waitReply(ctx context.Context, base string) (ctlReply, error) {
	t := time.NewTicker(ctlPoll)
	defer t.Stop()
	for {
		b, err := os.ReadFile(base + ".res")
		if err == nil {
			os.Remove(base + ".res")
			var rep ctlReply
			if err := json.Unmarshal(b, &rep); err != nil {
				return rep, fmt.Errorf("queue: bad control reply: %w", err)
			}
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return ctlReply{}, ctx.Err()
		case <-t.C:
		}
	}
}

// processControl applies the requests waiting in ctl/ and removes stale
// files (owner, from the runner's loop).
func (q *Queue) processControl(ctx context.Context) {
	names, err := readDirNames(q.ctldir)
	if err != nil {
		q.log.Error("queue: control directory", "err", err)
		return
	}
	for _, n := range names {
		base, ok := strings.CutSuffix(n, ".req")
		if !ok {
			q.removeStale(n)
			continue
		}
		q.serveRequest(ctx, filepath.Join(q.ctldir, base))
	}
}

func (q *Queue) serveRequest(ctx context.Context, base string) {
	if err := os.Rename(base+".req", base+".work"); err != nil {
		return // withdrawn by the requester
	}
	defer os.Remove(base + ".work")
	var req ctlRequest
	b, err := readLimited(base+".work", maxCtlFile)
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	var rep ctlReply
	if err != nil {
		rep.Error = fmt.Sprintf("bad control request: %v", err)
	} else {
		rep = q.apply(ctx, req)
	}
	q.log.Info("queue: control request", "op", req.Op, "id", req.ID, "request", filepath.Base(base), "error", rep.Error)
	out, _ := json.Marshal(rep)
	err = os.WriteFile(base+".rtmp", out, 0o600)
	if err == nil {
		err = os.Rename(base+".rtmp", base+".res")
	}
	if err != nil {
		q.log.Error("queue: cannot answer a control request", "request", filepath.Base(base), "err", err)
	}
}

// apply runs one request as the owner.
func (q *Queue) apply(ctx context.Context, req ctlRequest) ctlReply {
	var n int
	var err error
	switch req.Op {
	case "hold":
		err = q.Hold(ctx, req.ID, req.Reason)
	case "release":
		err = q.Release(ctx, req.ID)
	case "delete":
		err = q.Delete(ctx, req.ID)
	case "flush":
		n, err = q.Flush(ctx)
	default:
		err = fmt.Errorf("unknown operation %q", req.Op)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return ctlReply{NotFound: true}
	case err != nil:
		return ctlReply{Error: err.Error()}
	}
	return ctlReply{Count: n}
}

// removeStale removes a leftover control file (an answer nobody read, a
// temp file of a dead process) once it is old.
func (q *Queue) removeStale(name string) {
	p := filepath.Join(q.ctldir, name)
	fi, err := os.Stat(p)
	if err == nil && time.Since(fi.ModTime()) > ctlStaleAge {
		os.Remove(p)
	}
}

func readLimited(name string, limit int64) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", name, fi.Size(), limit)
	}
	return os.ReadFile(name)
}
