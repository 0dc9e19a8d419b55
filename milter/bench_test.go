package milter

import (
	"bytes"
	"io"
	"testing"
)

var (
	benchHeader = Header{Name: "Subject", Value: "Quarterly report: figures for review before Friday"}
	benchBody   = Body{Chunk: bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog.\r\n"), ChunkSize/46)}
	benchMacro  = Macro{Stage: CmdConnect, Pairs: []string{
		"j", "mx.example.org", "{daemon_name}", "smtpd", "v", "Postfix 3.7.11",
		"_", "client.example.net [192.0.2.10]", "{client_addr}", "192.0.2.10",
		"{client_name}", "client.example.net", "{client_port}", "54321",
		"{client_connections}", "0", "{daemon_addr}", "192.0.2.1", "{daemon_port}", "25",
	}}
	sinkPacket  Packet
	sinkCommand Command
)

func benchEncode(b *testing.B, c Command) {
	b.ReportAllocs()
	p := c.Encode()
	b.SetBytes(int64(len(p.Data)))
	for b.Loop() {
		sinkPacket = c.Encode()
	}
}

func benchDecode(b *testing.B, c Command) {
	b.ReportAllocs()
	p := c.Encode()
	b.SetBytes(int64(len(p.Data)))
	for b.Loop() {
		var err error
		sinkCommand, err = DecodeCommand(p)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeHeader(b *testing.B)  { benchEncode(b, benchHeader) }
func BenchmarkDecodeHeader(b *testing.B)  { benchDecode(b, benchHeader) }
func BenchmarkEncodeBody64K(b *testing.B) { benchEncode(b, benchBody) }
func BenchmarkDecodeBody64K(b *testing.B) { benchDecode(b, benchBody) }
func BenchmarkEncodeMacro(b *testing.B)   { benchEncode(b, benchMacro) }
func BenchmarkDecodeMacro(b *testing.B)   { benchDecode(b, benchMacro) }

// BenchmarkReadPacketBody64K measures framing alone: the Reader reuses its
// buffer, so steady-state reads allocate nothing.
func BenchmarkReadPacketBody64K(b *testing.B) {
	b.ReportAllocs()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WritePacket(benchBody.Encode()); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	wire := buf.Bytes()
	src := bytes.NewReader(wire)
	r := NewReader(src, 0)
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		src.Reset(wire)
		p, err := r.ReadPacket()
		if err != nil && err != io.EOF {
			b.Fatal(err)
		}
		sinkPacket = p
	}
}

// BenchmarkWritePacketHeader measures framing of a small packet into the
// buffered Writer.
func BenchmarkWritePacketHeader(b *testing.B) {
	b.ReportAllocs()
	w := NewWriter(io.Discard)
	p := benchHeader.Encode()
	for b.Loop() {
		if err := w.WritePacket(p); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}
