package io.megalith.core.config;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** Collects range and consistency problems, each phrased as "path: what is wrong; what is allowed". */
public final class Checks {
    private final List<String> problems = new ArrayList<>();

    public void atLeast(String path, long value, long min) {
        if (value < min) {
            problems.add(path + ": must be >= " + min + " (got " + value + ")");
        }
    }

    public void atLeast(String path, double value, double min) {
        if (!(value >= min)) {
            problems.add(path + ": must be >= " + min + " (got " + value + ")");
        }
    }

    public void inRange(String path, long value, long min, long max) {
        if (value < min || value > max) {
            problems.add(path + ": must be in [" + min + ", " + max + "] (got " + value + ")");
        }
    }

    public void inRange(String path, double value, double min, double max) {
        if (!(value >= min && value <= max)) {
            problems.add(path + ": must be in [" + min + ", " + max + "] (got " + value + ")");
        }
    }

    public void below(String path, double value, double min, double maxExclusive) {
        if (!(value >= min && value < maxExclusive)) {
            problems.add(path + ": must be in [" + min + ", " + maxExclusive + ") (got " + value + ")");
        }
    }

    public void oneOf(String path, String value, Collection<String> allowed) {
        if (value == null || !allowed.contains(value)) {
            problems.add(path + ": must be one of " + String.join(", ", allowed) + " (got " + quote(value) + ")");
        }
    }

    public void require(boolean ok, String problem) {
        if (!ok) {
            problems.add(problem);
        }
    }

    public List<String> problems() {
        return problems;
    }

    static String quote(String s) {
        return s == null ? "nothing" : "'" + s + "'";
    }
}
