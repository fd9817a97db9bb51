package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.launcher.testing.CliRun;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every command's --help names its values with the same metavars, and the command list fits one line each. */
class HelpTest {
    private static final List<String> METAVARS = List.of("KEY=VALUE", "N", "DIR", "FILE", "FILE|DIR", "TEXT", "X");
    /** An option's value placeholder ({@code --set=KEY=VALUE}), or a positional one in the usage line. */
    private static final Pattern OPTION_LABEL = Pattern.compile("--?[a-z-]+=([^\\s\\]]+)");
    private static final Pattern POSITIONAL = Pattern.compile("(?<=\\s)([A-Z][A-Z=]*|<[^>]+>)(?=\\s|$)");

    @Test
    void everyCommandUsesTheSameMetavars() {
        List<List<String>> commands = List.of(List.of("train"), List.of("finetune"), List.of("generate"),
                List.of("clip"), List.of("spark-check"), List.of("ckpt", "list"), List.of("ckpt", "inspect"),
                List.of("ckpt", "verify"), List.of("ckpt", "export"), List.of("quantize"), List.of("eval"));
        for (List<String> c : commands) {
            String[] args = Stream.concat(c.stream(), Stream.of("--help"))
                    .toArray(String[]::new);
            CliRun r = CliRun.of(args);
            assertThat(r.exit()).isZero();
            assertThat(r.out()).as(String.join(" ", c)).doesNotContain("=<").doesNotContainPattern("<[a-zA-Z]+>");
            List<String> lines = r.out().lines().toList(); // the usage line and its indented continuations
            String usage = lines.get(0) + lines.stream().skip(1).takeWhile(l -> l.startsWith(" "))
                    .reduce("", (a, b) -> a + " " + b);
            String options = r.out().lines().filter(l -> l.strip().startsWith("-")).map(l -> l.strip().split("\\s{2,}")[0])
                    .reduce("", (a, b) -> a + " " + b);
            int seen = 0;
            for (Matcher m : List.of(OPTION_LABEL.matcher(usage + " " + options), POSITIONAL.matcher(usage))) {
                while (m.find()) {
                    seen++;
                    assertThat(METAVARS).as("metavar %s in megalith %s --help", m.group(1), String.join(" ", c))
                            .contains(m.group(1));
                }
            }
            assertThat(seen).as("placeholders in megalith %s --help", String.join(" ", c)).isPositive();
        }
    }

    @Test
    void finetuneHasAShortDescription() {
        CliRun r = CliRun.of("--help");
        String line = r.out().lines().filter(l -> l.strip().startsWith("finetune")).findFirst().orElseThrow();
        assertThat(line.strip().length()).isLessThan(110);
        assertThat(r.out().lines().dropWhile(l -> !l.strip().startsWith("finetune")).skip(1).findFirst().orElseThrow())
                .as("the next line is the next command, not a continuation").matches("^\\s+[a-z-]+\\s+.*");
    }
}
