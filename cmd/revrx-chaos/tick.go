package main

import "time"

// every calls f with the tick time every interval until stop closes, then
// once more if final is true (a last look at the end).
func every(stop <-chan struct{}, interval time.Duration, final bool, f func(time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			if final {
				f(time.Now())
			}
			return
		case now := <-t.C:
			f(now)
		}
	}
}
