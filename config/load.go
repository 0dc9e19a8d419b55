package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment variable Load reads: the key path in
// upper case with dots as underscores, e.g. SLUICE_SMTP_LISTEN for
// smtp.listen.
const EnvPrefix = "SLUICE"

// LoadOptions says where Load takes the configuration from. The zero value
// loads the defaults and the environment.
type LoadOptions struct {
	// File is the TOML file to read; "" reads none.
	File string
	// Flags holds command-line flags that override keys; nil for none.
	Flags *pflag.FlagSet
	// FlagKeys maps a flag name in Flags to the key it sets, e.g.
	// "listen" → "milter_server.listen". A flag the user did not set
	// leaves the key to the lower layers.
	FlagKeys map[string]string
}

// EnvName returns the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load reads, merges and validates the configuration. Precedence, highest
// first: flags, SLUICE_* environment variables, the file, defaults. The
// tables [[milters]] and [filters.*] come from the file (or defaults) only.
//
// Every problem found is returned, joined with errors.Join; each is a
// *FieldError naming the file (or variable, or flag) and the key.
func Load(opts LoadOptions) (*Config, error) {
	l := &loader{opts: opts, raw: map[string]any{}}
	if opts.File != "" {
		if err := l.readFile(); err != nil {
			return nil, err
		}
	}
	return l.load()
}

// load merges the layers and decodes them; the file, if any, is parsed.
func (l *loader) load() (*Config, error) {
	if err := l.setupViper(); err != nil {
		return nil, err
	}
	shapeOK := checkKeys(schema(), "", l.raw, func(key, msg string) {
		l.errs = append(l.errs, &FieldError{Source: l.opts.File, Key: key, Msg: msg})
	})
	if !shapeOK {
		// A table written as a value hides every key below it: decoding
		// would only repeat the error as many missing values.
		return nil, errors.Join(l.errs...)
	}
	cfg := l.decode()
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return cfg, nil
}

// loader holds the state of one Load call.
type loader struct {
	opts LoadOptions
	data []byte         // the file's bytes
	raw  map[string]any // the file's contents, keys as written
	v    *viper.Viper   // defaults < file < environment < flags
	errs []error
}

// readFile reads and parses the TOML file into l.raw.
func (l *loader) readFile() error {
	data, err := os.ReadFile(l.opts.File)
	if err != nil {
		return err
	}
	return l.parse(data)
}

// parse decodes the file's bytes into l.raw.
func (l *loader) parse(data []byte) error {
	l.data = data
	if err := toml.Unmarshal(data, &l.raw); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return fmt.Errorf("%s:%d:%d: %s", l.opts.File, row, col, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return fmt.Errorf("%s: %s", l.opts.File, strings.TrimPrefix(err.Error(), "toml: "))
	}
	return nil
}

// setupViper layers defaults, the file, the environment and flags.
func (l *loader) setupViper() error {
	v := viper.New()
	for k, d := range scalarDefaults() {
		v.SetDefault(k, d)
	}
	if l.data != nil {
		v.SetConfigType("toml")
		if err := v.ReadConfig(strings.NewReader(string(l.data))); err != nil {
			return fmt.Errorf("%s: %w", l.opts.File, err)
		}
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if l.opts.Flags == nil && len(l.opts.FlagKeys) > 0 {
		return errors.New("config: FlagKeys without Flags")
	}
	for _, name := range sortedKeys(l.opts.FlagKeys) {
		key := l.opts.FlagKeys[name]
		if _, known := scalarDefaults()[key]; !known {
			return fmt.Errorf("config: flag --%s is bound to unknown key %q", name, key)
		}
		f := l.opts.Flags.Lookup(name)
		if f == nil {
			return fmt.Errorf("config: flag --%s is not defined", name)
		}
		if err := v.BindPFlag(key, f); err != nil {
			return fmt.Errorf("config: flag --%s: %w", name, err)
		}
	}
	l.v = v
	return nil
}

// isText reports whether a key's value is text from a flag or the
// environment (where lists are comma-separated) rather than from the file.
func (l *loader) isText(key string) bool {
	return l.source(key) != l.opts.File && l.source(key) != "defaults"
}

// source names the layer a top-level key's value comes from.
func (l *loader) source(key string) string {
	key, _, _ = strings.Cut(key, "[") // a list item comes from where its list does
	for name, k := range l.opts.FlagKeys {
		if k == key && l.opts.Flags.Lookup(name).Changed {
			return "flag --" + name
		}
	}
	if s, ok := os.LookupEnv(EnvName(key)); ok && s != "" {
		return "$" + EnvName(key)
	}
	if lookup(l.raw, key) != nil {
		return l.opts.File
	}
	return "defaults"
}

// lookup finds a dotted key in a nested map; nil when absent.
func lookup(m map[string]any, key string) any {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		t, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = t[part]
	}
	return cur
}

// decode reads every section, collecting errors in l.errs.
func (l *loader) decode() *Config {
	r := &reader{get: l.v.Get, source: l.source, isText: l.isText, errs: &l.errs}
	cfg := &Config{File: l.opts.File}
	cfg.Hostname = readHostname(r)
	cfg.DataDir = r.str("data_dir")
	if cfg.DataDir == "" && r.ok("data_dir") {
		r.fail("data_dir", "must not be empty")
	}
	cfg.LogLevel = readLogLevel(r)
	cfg.SMTP = readSMTP(r)
	cfg.Queue = readQueue(r, cfg.DataDir)
	cfg.Downstream = readDownstream(r)
	checkVerify(r, cfg.SMTP, cfg.Downstream)
	cfg.MilterServer = readMilterServer(r)
	cfg.Metrics = readMetrics(r)
	cfg.Milters = l.readMilters()
	cfg.Filters = l.readFilters()
	return cfg
}

// fileReader reads one table of the file (an array entry), falling back
// to defaults for keys it lacks.
func (l *loader) fileReader(prefix string, m map[string]any, defaults map[string]any) *reader {
	return &reader{
		prefix: prefix,
		get: func(k string) any {
			if v, ok := m[k]; ok {
				return v
			}
			return defaults[k]
		},
		source: func(string) string { return l.opts.File },
		isText: func(string) bool { return false },
		errs:   &l.errs,
	}
}

// resolveDir returns dir, or def under dataDir when dir is empty.
func resolveDir(dir, dataDir, def string) string {
	if dir != "" {
		return dir
	}
	return filepath.Join(dataDir, def)
}
