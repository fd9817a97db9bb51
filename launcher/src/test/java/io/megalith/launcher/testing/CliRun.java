package io.megalith.launcher.testing;

import io.megalith.launcher.cli.Megalith;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * One {@code megalith ...} command run in this JVM as the CLI would run it: its exit code and what it printed to
 * stdout and stderr (also echoed to the test's console, so a failing test shows the command's output).
 */
public record CliRun(int exit, String out, String err) {
    public static CliRun of(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        int exit;
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            exit = Megalith.run(args);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        CliRun r = new CliRun(exit, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        System.out.println("megalith " + String.join(" ", args) + " -> " + exit + "\n" + r.out + r.err);
        return r;
    }
}
