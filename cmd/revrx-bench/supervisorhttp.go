package main

import (
	"bufio"
	"encoding/json"
	"net/http"
)

// What the bench reads from a revrx-supervise's HTTP surface (--http-addr):
// /readyz, /metrics and /status. Each read is best effort: an error reads
// as "not (yet)".

// readyzOK reports whether the supervisor at addr answers /readyz with 200.
func readyzOK(client *http.Client, addr string) bool {
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// hasSeries reports whether the supervisor at addr serves the /metrics
// line series (name{labels} value).
func hasSeries(addr, series string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == series {
			return true
		}
	}
	return false
}

// appHostPID is the app host's PID from /status, 0 if there is none.
func appHostPID(addr string) int {
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var st struct {
		AppHost *struct {
			PID int `json:"pid"`
		} `json:"app_host"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil || st.AppHost == nil {
		return 0
	}
	return st.AppHost.PID
}
