package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// day is the length of the "d" unit ParseDuration accepts: a calendar-free
// 24 hours, as queue lifetimes are usually written ("5d").
const day = 24 * time.Hour

// ParseDuration parses a Go duration ("30s", "1h30m", "250ms") that may start
// with a whole number of days ("5d", "1d12h"). Negative durations are
// rejected: no timeout or interval in sluice can be negative.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	days, rest, err := splitDays(s)
	if err != nil {
		return 0, err
	}
	var d time.Duration
	if rest != "" {
		d, err = time.ParseDuration(rest)
		if err != nil || strings.ContainsAny(rest, "+-") {
			return 0, fmt.Errorf("bad duration %q (want e.g. \"30s\", \"5m\", \"1h30m\", \"5d\")", s)
		}
	}
	if days > int64((math.MaxInt64-d)/day) {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return time.Duration(days)*day + d, nil
}

// splitDays splits a leading "<digits>d" off s. It returns 0 and s unchanged
// when s has no day part.
func splitDays(s string) (days int64, rest string, err error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i == len(s) || s[i] != 'd' {
		return 0, s, nil
	}
	days, err = strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("duration %q is too long", s)
	}
	return days, s[i+1:], nil
}

// sizeUnits maps a lower-cased unit suffix to its multiplier: SI units are
// powers of 1000, IEC units ("KiB") powers of 1024.
func sizeUnits() map[string]int64 {
	return map[string]int64{
		"":    1,
		"b":   1,
		"kb":  1000,
		"mb":  1000 * 1000,
		"gb":  1000 * 1000 * 1000,
		"tb":  1000 * 1000 * 1000 * 1000,
		"kib": 1 << 10,
		"mib": 1 << 20,
		"gib": 1 << 30,
		"tib": 1 << 40,
	}
}

// ParseSize parses a byte count: plain bytes ("1048576"), or a whole number
// with a unit, SI ("1GB" = 10⁹ bytes, also B, kB, MB, TB) or IEC ("50MiB" =
// 50·2²⁰ bytes, also KiB, GiB, TiB). Units are case-insensitive and may be
// separated from the number by one space. Negative sizes are rejected.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("bad size %q (want bytes or e.g. \"64KiB\", \"50MiB\", \"1GB\")", s)
	}
	unit := strings.ToLower(strings.TrimPrefix(t[i:], " "))
	mult, ok := sizeUnits()[unit]
	if !ok {
		return 0, fmt.Errorf("bad size unit in %q (want B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}
