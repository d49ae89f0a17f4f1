// A heartbeat client logging through Go's log package, for the log-formats scenario: the log
// lines are Go's own (LstdFlags|Lmicroseconds, local time from TZ); the event times it prints on
// stdout are the truth.
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"time"
)

func truth(ev string, port int) {
	now := time.Now()
	fmt.Printf("{\"ev\":%q,\"t\":%d.%09d,\"port\":%d}\n", ev, now.Unix(), now.Nanosecond(), port)
}

func main() {
	name, server, port, src, path := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	conns, _ := strconv.Atoi(os.Args[6])
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	lg := log.New(f, "", log.LstdFlags|log.Lmicroseconds)
	for c := 1; c <= conns; c++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		conn, err := d.Dial("tcp", net.JoinHostPort(server, port))
		if err != nil {
			panic(err)
		}
		lp := conn.LocalAddr().(*net.TCPAddr).Port
		truth("connected", lp)
		lg.Printf("INFO %s connected to %s from %s", name, conn.RemoteAddr(), conn.LocalAddr())
		r := bufio.NewReader(conn)
		fmt.Fprintf(conn, "HELLO %s\n", name)
		r.ReadString('\n')
		failed := false
		for k := 1; k <= 6; k++ {
			time.Sleep(500 * time.Millisecond)
			fmt.Fprintf(conn, "PING %d\n", k)
			if _, err := r.ReadString('\n'); err != nil {
				truth("reset", lp)
				lg.Printf("ERROR %s heartbeat to %s failed: %v", name, conn.RemoteAddr(), err)
				failed = true
				break
			}
		}
		if !failed {
			truth("closing", lp)
			lg.Printf("INFO %s closing %s", name, conn.LocalAddr())
		}
		conn.Close()
		time.Sleep(300 * time.Millisecond)
	}
}
