// PGET from Go with go-redis v5 (Debian's golang-gopkg-redis.v5-dev): the lease / PSET / WAIT
// cycle of docs/pget.md through the client's generic command call, redis.NewCmd(args...) and
// client.Process(cmd).
//
// Run by CTest as `with_servers go run pget_example.go` in GOPATH mode (GOPATH=/usr/share/gocode,
// GO111MODULE=off, caches in the build directory; see tests/clients/CMakeLists.txt): with_servers
// starts a redis-server and a puppy-proxy and exports PUPPY_PROXY_PORT. Exits non-zero with a
// message on the first mismatch.
package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"time"

	"gopkg.in/redis.v5"
)

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "pget_example.go: FAILED: "+format+"\n", args...)
		os.Exit(1)
	}
}

// do sends any command and returns its reply: strings, int64, nil, []interface{}.
func do(client *redis.Client, args ...interface{}) (interface{}, error) {
	cmd := redis.NewCmd(args...)
	client.Process(cmd)
	return cmd.Result()
}

// The replies of the last cached() call, for the checks below.
var last struct {
	reply            []interface{} // PGET's [state, value or nil, token or nil]
	stored, released interface{}   // PSET's and PRELEASE's
}

// cached returns the value of key: fresh or stale as it is; on a lease, computed by compute and
// stored. A failed compute gives the lease back and returns its error.
func cached(client *redis.Client, key string, compute func() (string, error)) (string, error) {
	reply, err := do(client, "PGET", key, 60, 5, "WAIT", 5000)
	if err != nil {
		return "", err
	}
	last.reply, last.stored, last.released = reply.([]interface{}), nil, nil
	state, token := last.reply[0], last.reply[2]
	value, _ := last.reply[1].(string) // nil on a cold miss or a miss
	if state == "lease" {
		if value, err = compute(); err != nil {
			last.released, _ = do(client, "PRELEASE", key, token) // the next reader gets the lease
			return "", err
		}
		last.stored, _ = do(client, "PSET", key, token, value, 60, 5)
	}
	return value, nil
}

func main() {
	port := os.Getenv("PUPPY_PROXY_PORT")
	check(port != "", "PUPPY_PROXY_PORT is set (run under with_servers)")
	// The read timeout must outlast WAIT (go-redis's default is 3 s).
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, ReadTimeout: 10 * time.Second})

	key := fmt.Sprintf("pget-example:go:%d", os.Getpid())
	computed := 0
	compute := func(v string) func() (string, error) {
		return func() (string, error) { computed++; return v, nil }
	}

	// A cold key: this caller gets the lease (no value, a 32-hex token), computes and stores.
	value, err := cached(client, key, compute("v1"))
	check(err == nil && value == "v1" && computed == 1, "first call computes v1 (got %q, %v, %d computes)", value, err, computed)
	check(last.reply[0] == "lease" && last.reply[1] == nil, "first PGET answers lease, nil (got %q)", last.reply)
	token, _ := last.reply[2].(string)
	check(regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(token), "the token is 32 hex characters (got %q)", token)
	check(last.stored == int64(1), "PSET answers 1 (got %v)", last.stored)

	// Fresh: the value without computing.
	value, err = cached(client, key, compute("v2"))
	check(err == nil && value == "v1" && computed == 1 && last.reply[0] == "fresh", "second call is fresh v1 (got %q)", last.reply)

	// Invalidated: the next caller gets the lease with the old value, and computes again.
	n, err := do(client, "PINVALIDATE", key)
	check(n == int64(1), "PINVALIDATE answers 1 (got %v, %v)", n, err)
	value, err = cached(client, key, compute("v2"))
	check(last.reply[0] == "lease" && last.reply[1] == "v1", "after PINVALIDATE: lease with old v1 (got %q)", last.reply)
	check(err == nil && value == "v2" && computed == 2 && last.stored == int64(1), "v2 computed and stored (got %q, %v)", value, err)

	// A compute that fails gives the lease back (PRELEASE), so the next call gets it again.
	n, _ = do(client, "PINVALIDATE", key)
	check(n == int64(1), "PINVALIDATE answers 1 (got %v)", n)
	down := errors.New("backend down")
	_, err = cached(client, key, func() (string, error) { return "", down })
	check(err == down, "the compute's own error is returned (got %v)", err)
	check(last.reply[0] == "lease" && last.released == int64(1), "failed compute: PRELEASE answers 1 (got %q, %v)", last.reply, last.released)
	value, _ = cached(client, key, compute("v3"))
	check(last.reply[0] == "lease" && value == "v3", "after PRELEASE the next call gets the lease (got %q, %q)", last.reply, value)

	// WAIT: a goroutine waits on a cold key (on a second connection from the client's pool) while
	// this one holds its lease.
	key2 := key + ":wait"
	reply, err := do(client, "PGET", key2, 60, 5)
	check(err == nil && reply.([]interface{})[0] == "lease", "plain PGET on a cold key answers lease (got %q, %v)", reply, err)
	token2 := reply.([]interface{})[2]
	waiter := make(chan interface{})
	go func() {
		reply, err := do(client, "PGET", key2, 60, 5, "WAIT", 5000)
		if err != nil {
			reply = err
		}
		waiter <- reply
	}()
	// Whether the waiter's PGET reaches the proxy before or after this PSET, it answers fresh w1:
	// before, it waits and the PSET's publish wakes it; after, the value is there at once.
	n, err = do(client, "PSET", key2, token2, "w1", 60, 5)
	check(n == int64(1), "PSET for the waiter answers 1 (got %v, %v)", n, err)
	reply = <-waiter
	check(reflect.DeepEqual(reply, []interface{}{"fresh", "w1", nil}), "the waiter gets fresh w1 (got %q)", reply)

	fmt.Println("pget_example.go: all checks passed")
}
