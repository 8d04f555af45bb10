package serving

import (
	"fmt"
	"strconv"
	"time"
)

// Env reads a service's settings: os.Getenv in the services, a map's lookup in
// tests. An unset or empty variable takes the fallback; a set one that is not
// valid is an error that names it and says what it takes.
type Env func(name string) string

// String is the variable's value, or fallback.
func (e Env) String(name, fallback string) string {
	if v := e(name); v != "" {
		return v
	}
	return fallback
}

// Int is the variable as an integer from lo to hi, or fallback.
func (e Env) Int(name string, fallback, lo, hi int) (int, error) {
	raw := e(name)
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q is not an integer from %d to %d", name, raw, lo, hi)
	}
	return n, nil
}

// Duration is the variable as a positive Go duration (5s, 500ms), or fallback.
func (e Env) Duration(name string, fallback time.Duration) (time.Duration, error) {
	raw := e(name)
	if raw == "" {
		return fallback, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration; use e.g. 5s or 500ms", name, raw)
	}
	return d, nil
}

// Bool is the variable as true or false (also 1 or 0), or fallback.
func (e Env) Bool(name string, fallback bool) (bool, error) {
	switch raw := e(name); raw {
	case "":
		return fallback, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q is neither true nor false", name, raw)
	}
}
