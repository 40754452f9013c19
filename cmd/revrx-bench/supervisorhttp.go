package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// metricSum is the sum over every series of the metric name (all its label
// values) on the supervisor at addr's /metrics; found is false when it
// exports none.
func metricSum(addr, name string) (sum float64, found bool) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok || !strings.HasPrefix(rest, "{") && !strings.HasPrefix(rest, " ") {
			continue
		}
		f := strings.Fields(rest)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// forecastOf is the "forecast" object of the supervisor at addr's /status,
// nil when it has none (--predict off) or does not answer.
func forecastOf(addr string) *forecastStatus {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/status")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st struct {
		Forecast *forecastStatus `json:"forecast"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil
	}
	return st.Forecast
}
