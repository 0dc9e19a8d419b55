//go:build linux

package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The benchmarks write to a temporary directory, or to
// $SLUICE_BENCH_DIR when set (to measure a particular disk).
func benchDir(b *testing.B) string {
	if d := os.Getenv("SLUICE_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "queue-bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"100KiB", 100 << 10}}

// BenchmarkRawFsync is the disk's limit for comparison: one file, each op
// appends size bytes and fsyncs.
func BenchmarkRawFsync(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(benchDir(b), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := bytes.Repeat([]byte("x"), s.size)
			flushes := newFlushCounter(f.Name())
			b.SetBytes(int64(s.size))
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
			flushes.report(b, "flushes/op")
		})
	}
}

// BenchmarkPut measures Put throughput with concurrent writers: msgs/s,
// fsync calls per message (file and directory), directory fsyncs per
// message (what group commit shares), and, where /sys/block tells, disk
// cache flushes per message.
func BenchmarkPut(b *testing.B) {
	for _, s := range benchSizes {
		for _, conc := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("size=%s/writers=%d", s.name, conc), func(b *testing.B) {
				benchPut(b, s.size, conc)
			})
		}
	}
}

// BenchmarkPutNoFsync is BenchmarkPut with every fsync skipped (not
// durable!): the cost of the files and renames alone, the ceiling for a
// spool of one content file and one record per message on this machine.
func BenchmarkPutNoFsync(b *testing.B) {
	for _, s := range benchSizes {
		for _, conc := range []int{1, 50} {
			b.Run(fmt.Sprintf("size=%s/writers=%d", s.name, conc), func(b *testing.B) {
				benchPutFS(b, s.size, conc, &countFS{nosync: true})
			})
		}
	}
}

func benchPut(b *testing.B, size, writers int) {
	benchPutFS(b, size, writers, &countFS{})
}

func benchPutFS(b *testing.B, size, writers int, fsys *countFS) {
	dir := benchDir(b)
	q, err := Open(Options{Dir: dir, FS: fsys})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	rec := testRecord("b@example.org")
	body := bytes.Repeat([]byte(strings.Repeat("x", 78)+"\r\n"), size/80+1)[:size]
	flushes := newFlushCounter(dir)
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := q.Put(context.Background(), rec, []byte(testHeader), bytes.NewReader(body)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(fsys.fileSyncs.Load()+fsys.dirSyncs.Load())/n, "fsyncs/msg")
	b.ReportMetric(float64(fsys.dirSyncs.Load())/n, "dirsyncs/msg")
	flushes.report(b, "flushes/msg")
}

// countFS is the OS file system counting fsync calls; with nosync it
// only counts them.
type countFS struct {
	osFS
	nosync              bool
	fileSyncs, dirSyncs atomic.Int64
}

func (c *countFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countFile{File: f, c: c}, nil
}

func (c *countFS) SyncDir(dir string) error {
	c.dirSyncs.Add(1)
	if c.nosync {
		return nil
	}
	return c.osFS.SyncDir(dir)
}

type countFile struct {
	File
	c *countFS
}

func (f *countFile) Sync() error {
	f.c.fileSyncs.Add(1)
	if f.c.nosync {
		return nil
	}
	return f.File.Sync()
}

// flushCounter reads the cache flush requests completed by the block
// device holding a path (field 16 of /sys/dev/block/MAJ:MIN/stat, Linux
// 5.5 and later). Other I/O on the same disk counts too.
type flushCounter struct {
	stat  string
	start int64
}

func newFlushCounter(path string) *flushCounter {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return &flushCounter{}
	}
	major, minor := (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff
	c := &flushCounter{stat: fmt.Sprintf("/sys/dev/block/%d:%d/stat", major, minor)}
	var ok bool
	if c.start, ok = c.read(); !ok {
		c.stat = ""
	}
	return c
}

func (c *flushCounter) read() (int64, bool) {
	if c.stat == "" {
		return 0, false
	}
	b, err := os.ReadFile(c.stat)
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 17 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[15], 10, 64)
	return n, err == nil
}

func (c *flushCounter) report(b *testing.B, unit string) {
	if n, ok := c.read(); ok {
		b.ReportMetric(float64(n-c.start)/float64(b.N), unit)
	}
}
