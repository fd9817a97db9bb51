package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.launcher.testing.Repo;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The shipped configs run from a fresh clone: none names an absolute path (of the machine they were written on),
 * and every data file one names is in the repository (tracked by git), relative to the repository root, which is the
 * working directory README's commands run in.
 */
class ShippedConfigPathsTest {
    @Test
    void noShippedConfigNamesAnAbsolutePathAndTheirDataIsInTheRepository() throws Exception {
        Path root = Repo.root();
        List<String> problems = new ArrayList<>();
        int dataFiles = 0;
        for (Path conf : Repo.shippedConfigs()) {
            JsonNode tree = new YAMLMapper().readTree(Files.readString(conf));
            List<String[]> strings = new ArrayList<>();
            collect(tree, "", strings);
            for (String[] kv : strings) {
                String value = kv[1];
                if (value.startsWith("/") || value.startsWith("file:") || value.startsWith("~")
                        || value.matches("^[A-Za-z]:[\\\\/].*")) {
                    problems.add(conf.getFileName() + ": " + kv[0] + " is an absolute path: " + value);
                }
                if (kv[0].equals("data.path") && !value.contains("://")) {
                    dataFiles++;
                    if (!Files.isRegularFile(root.resolve(value))) {
                        problems.add(conf.getFileName() + ": data.path " + value + " does not exist under " + root);
                    } else if (!tracked(root, value)) {
                        problems.add(conf.getFileName() + ": data.path " + value + " is not tracked by git");
                    }
                }
            }
        }
        assertThat(dataFiles).as("configs naming a data file").isGreaterThanOrEqualTo(6);
        assertThat(problems).isEmpty();
    }

    private static void collect(JsonNode node, String path, List<String[]> out) {
        if (node.isTextual()) {
            out.add(new String[] {path, node.textValue()});
        }
        Iterator<Map.Entry<String, JsonNode>> it = node.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            collect(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey(), out);
        }
        for (int i = 0; node.isArray() && i < node.size(); i++) {
            collect(node.get(i), path + "[" + i + "]", out);
        }
    }

    /** Whether a fresh clone has the file: git knows it (committed or staged). */
    private static boolean tracked(Path root, String file) throws Exception {
        Process git = new ProcessBuilder("git", "-C", root.toString(), "ls-files", "--", file)
                .redirectErrorStream(true).start();
        String listed = new String(git.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        return git.waitFor() == 0 && listed.equals(file);
    }
}
