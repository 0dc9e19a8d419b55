package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-mta/sluice/config"
)

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "sluice-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "sluice.toml")
	body := `
[milter_server]
listen = "inet:8890@127.0.0.1"
read_timeout = "2m"

[[milters]]
name = "opendkim"
address = "inet:8891@127.0.0.1"
`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		panic(err)
	}
	cfg, err := config.Load(config.LoadOptions{File: file})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.MilterServer.Listen.Network, cfg.MilterServer.Listen.Address, cfg.MilterServer.ReadTimeout)
	for _, m := range cfg.Milters {
		fmt.Println(m.Name, m.Address.Address, m.DefaultAction, m.EOMTimeout)
	}
	fmt.Println("headers filter on:", cfg.Filters.Headers != nil)
	// Output:
	// tcp 127.0.0.1:8890 2m0s
	// opendkim 127.0.0.1:8891 tempfail 5m0s
	// headers filter on: true
}

func ExampleParseSize() {
	for _, s := range []string{"50MiB", "1GB", "4096"} {
		n, _ := config.ParseSize(s)
		fmt.Println(s, n)
	}
	// Output:
	// 50MiB 52428800
	// 1GB 1000000000
	// 4096 4096
}
