// Package secret keeps credentials out of error messages.
package secret

import (
	"net/url"
	"strings"
)

// redactedError is an error whose text had a secret replaced; it still
// unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Redact returns err with every form of password a connection URL or a
// driver message can carry (plain, query- and path-escaped, as URL
// userinfo) replaced by "xxxxx". Drivers put parts of the connection
// string into their errors.
func Redact(password string, err error) error {
	if err == nil || password == "" {
		return err
	}
	msg := err.Error()
	for _, p := range []string{password, url.QueryEscape(password), url.PathEscape(password), url.UserPassword("x", password).String()[2:]} {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return &redactedError{msg: msg, err: err}
}
