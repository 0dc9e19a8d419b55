package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/sluice-mta/sluice/filter/headers"
	"github.com/sluice-mta/sluice/miltersrv"
)

func main() {
	listen := flag.String("listen", "", "milter socket address: unix:/path or inet:port@host")
	maxConns := flag.Int("max-connections", 20000, "miltersrv.Options.MaxConnections")
	flag.Parse()
	if err := run(*listen, *maxConns, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func run(listen string, maxConns int, in io.Reader, out io.Writer) error {
	if listen == "" {
		return errors.New("-listen is required")
	}
	if err := raiseNoFile(); err != nil {
		return fmt.Errorf("raising the open-file limit: %w", err)
	}
	f, err := headers.New(headers.Options{Add: []headers.Header{{Name: "X-Filtered-By", Value: "sluice"}}})
	if err != nil {
		return err
	}
	l, err := miltersrv.Listen(listen)
	if err != nil {
		return err
	}
	srv := miltersrv.New(f, miltersrv.Options{
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MaxConnections: maxConns,
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if _, err := fmt.Fprintf(out, "listening %s\n", l.Addr()); err != nil {
		srv.Close()
		return err
	}
	cmdErr := commands(srv, in, out)
	srv.Close()
	if err := <-served; !errors.Is(err, miltersrv.ErrServerClosed) {
		return err
	}
	return cmdErr
}

// commands answers the parent's commands until in ends.
func commands(srv *miltersrv.Server, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		var err error
		switch {
		case cmd == "stats" && arg == "":
			err = enc.Encode(collect(srv))
		case cmd == "heap" && arg != "":
			if err = writeHeapProfile(arg); err == nil {
				_, err = fmt.Fprintln(out, "ok")
			}
		default:
			err = fmt.Errorf("unknown command %q", sc.Text())
		}
		if err != nil {
			return err
		}
	}
	return sc.Err()
}

// writeHeapProfile writes the heap profile (after a garbage collection) to
// path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stats is what the "stats" command prints. Byte counts come from
// runtime.MemStats.
type stats struct {
	PID         int    `json:"pid"`
	Connections int    `json:"connections"`
	Goroutines  int    `json:"goroutines"`
	HeapInuse   uint64 `json:"heap_inuse"`
	StackInuse  uint64 `json:"stack_inuse"`
	Sys         uint64 `json:"sys"`
}

func collect(srv *miltersrv.Server) stats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return stats{
		PID:         os.Getpid(),
		Connections: srv.Connections(),
		Goroutines:  runtime.NumGoroutine(),
		HeapInuse:   ms.HeapInuse,
		StackInuse:  ms.StackInuse,
		Sys:         ms.Sys,
	}
}
