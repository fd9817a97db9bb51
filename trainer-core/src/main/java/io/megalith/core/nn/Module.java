package io.megalith.core.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A named group of parameters and sub-modules, declared in the constructor in a fixed order.
 * Names are hierarchical and stable, so a module's {@link #parameters()} is a state dict.
 */
public abstract class Module {
    private final String prefix;
    private final List<Parameter> own = new ArrayList<>();
    private final List<Module> children = new ArrayList<>();

    protected Module(String prefix) {
        this.prefix = prefix;
    }

    /** The full name of this module ("" for a root). */
    public String prefix() {
        return prefix;
    }

    protected String childName(String local) {
        return prefix.isEmpty() ? local : prefix + "." + local;
    }

    protected Parameter parameter(String local, long[] shape, Init init, boolean decay) {
        Parameter p = new Parameter(childName(local), shape, init, decay);
        own.add(p);
        return p;
    }

    protected <M extends Module> M child(M module) {
        children.add(module);
        return module;
    }

    /**
     * Drops a sub-module this rank does not hold (a plan keeping one pipeline stage's blocks, or one rank's experts),
     * with its parameters; only before they are laid out in a store.
     */
    protected void remove(Module module) {
        if (!children.remove(module)) {
            throw new IllegalArgumentException(module.prefix() + " is not a child of " + prefix);
        }
    }

    /** The direct sub-modules, in declaration order. */
    public List<Module> children() {
        return Collections.unmodifiableList(children);
    }

    /** All parameters of this module and its children, depth first in declaration order. */
    public List<Parameter> parameters() {
        List<Parameter> all = new ArrayList<>(own);
        for (Module c : children) {
            all.addAll(c.parameters());
        }
        return Collections.unmodifiableList(all);
    }
}
