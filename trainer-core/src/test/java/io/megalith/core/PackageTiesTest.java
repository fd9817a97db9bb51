package io.megalith.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package structure holds: no package of trainer-core depends on a package that depends back on it (imports and
 * qualified names in code, comments left out), so concepts stack as docs/ARCHITECTURE.md draws them.
 */
class PackageTiesTest {
    private static final Pattern PACKAGE = Pattern.compile("(?m)^package\\s+([\\w.]+);");
    private static final Pattern REFERENCE = Pattern.compile("\\b(io\\.megalith(?:\\.[a-z]\\w*)+)\\.[A-Z]");
    private static final Pattern COMMENTS = Pattern.compile("(?s)/\\*.*?\\*/|//[^\\n]*");

    @Test
    void noTwoPackagesDependOnEachOther() throws IOException {
        Map<String, Set<String>> uses = dependencies(Path.of("src/main/java"));
        assertThat(uses).as("packages read").hasSizeGreaterThan(20);
        List<String> ties = new ArrayList<>();
        uses.forEach((a, targets) -> targets.forEach(b -> {
            if (a.compareTo(b) < 0 && uses.getOrDefault(b, Set.of()).contains(a)) {
                ties.add(a + " <-> " + b);
            }
        }));
        assertThat(ties).as("two-way package dependencies").isEmpty();
    }

    /** Package -> the packages of this source tree its code refers to. */
    private static Map<String, Set<String>> dependencies(Path root) throws IOException {
        Map<String, String> sources = new TreeMap<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                sources.put(f.toString(), COMMENTS.matcher(Files.readString(f)).replaceAll(""));
            }
        }
        Set<String> packages = new TreeSet<>();
        sources.values().forEach(src -> packages.add(packageOf(src)));
        Map<String, Set<String>> uses = new TreeMap<>();
        for (String src : sources.values()) {
            String own = packageOf(src);
            Set<String> targets = uses.computeIfAbsent(own, k -> new TreeSet<>());
            Matcher m = REFERENCE.matcher(src);
            while (m.find()) {
                if (packages.contains(m.group(1)) && !m.group(1).equals(own)) {
                    targets.add(m.group(1));
                }
            }
        }
        return uses;
    }

    private static String packageOf(String source) {
        Matcher m = PACKAGE.matcher(source);
        return m.find() ? m.group(1) : "";
    }
}
