// A heartbeat client logging through java.util.logging, for the log-formats scenario: the log
// lines are Java's own (SimpleFormatter with a Logback-like pattern given by the driver, stack
// traces included); the event times it prints on stdout are the truth.
import java.io.*;
import java.net.*;
import java.time.Instant;
import java.util.logging.*;

public class HbClient {
    static void truth(String ev, int port) {
        Instant now = Instant.now();
        System.out.printf("{\"ev\":\"%s\",\"t\":%d.%09d,\"port\":%d}%n", ev, now.getEpochSecond(), now.getNano(), port);
        System.out.flush();
    }

    public static void main(String[] a) throws Exception {
        String name = a[0], server = a[1], src = a[3], path = a[4];
        int port = Integer.parseInt(a[2]), conns = Integer.parseInt(a[5]);
        Logger log = Logger.getLogger("hb." + name);
        log.setUseParentHandlers(false);
        FileHandler fh = new FileHandler(path);
        fh.setFormatter(new SimpleFormatter());
        log.addHandler(fh);
        for (int c = 1; c <= conns; c++) {
            Socket s = new Socket();
            s.setTcpNoDelay(true);
            s.bind(new InetSocketAddress(src, 0));
            s.connect(new InetSocketAddress(server, port));
            int lp = s.getLocalPort();
            truth("connected", lp);
            log.info("connected to " + server + ":" + port + " local_port=" + lp);
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream()));
            OutputStream out = s.getOutputStream();
            out.write(("HELLO " + name + "\n").getBytes());
            in.readLine();
            try {
                for (int k = 1; k <= 6; k++) {
                    Thread.sleep(500);
                    out.write(("PING " + k + "\n").getBytes());
                    if (in.readLine() == null) throw new EOFException("server closed");
                }
                truth("closing", lp);
                log.info("closing connection, local_port=" + lp);
                s.close();
            } catch (SocketException e) {
                truth("reset", lp);
                log.log(Level.SEVERE, "heartbeat failed on local_port=" + lp + ", reconnecting", e);
                s.close();
                Thread.sleep(300);
            }
        }
        fh.close();
    }
}
