//! The merge driver git runs on the vault (secret by secret, each side's authenticity
//! checked), and `vault merge`, which finishes a merge that stopped on a conflict.

use super::*;

/// A merge that stopped, kept under `.git/secretsd-merge/`.
#[derive(Serialize, Deserialize)]
struct Pending {
    /// The vault's path in the work tree.
    path: String,
    conflicts: Vec<String>,
    /// Settled so far: "ours" or "theirs" (values typed are in `values.age`).
    resolutions: BTreeMap<String, String>,
}

/// Values typed to settle conflicts, kept (encrypted, signed by this user) between calls.
#[derive(Serialize, Deserialize)]
struct Typed {
    values: BTreeMap<String, String>,
}

fn pending_dir(root: &Path) -> Result<PathBuf> {
    let git_dir = git_text(root, &["rev-parse", "--absolute-git-dir"])?;
    Ok(PathBuf::from(git_dir).join("secretsd-merge"))
}

/// The three versions a merge starts from, each found genuine, and who the result is for.
struct Sides {
    base: Document,
    ours: Opened,
    theirs: Document,
    /// The membership block of the result (as stored), and its recipients.
    membership: (String, Vec<String>),
    /// The result's generation: one more than any side's.
    generation: u64,
}

/// Opens the three sides of a merge of the vault at `path` in the work tree at `root`,
/// and decides who the result is for. Each side must be a genuine version of the vault
/// that location holds (by its id, not the configured vault's); a side may change the
/// membership only with a higher epoch that an owner this machine trusts signed, and only
/// one side may; a side that changed secrets must have been written by a member of the
/// result. Anything else stops the merge as a conflict (a `LockedOut` error) for an owner
/// to settle: nothing is merged or signed. Nothing here moves a floor.
fn open_sides(
    context: &Context,
    root: &Path,
    path: &str,
    (base, ours, theirs): (&[u8], &[u8], &[u8]),
) -> Result<Sides> {
    let trust = Trust::new(context, Purpose::Values);
    let vault = context.vault_with(trust.clone());
    let ours = vault.open_ciphertext(ours, context)?;
    let here = crate::trust::state::location_key(&root.join(path));
    let expected = trust.vault_at(&here)?.or_else(|| vault_id(&ours.document));
    let genuine = |name: &str, opened: &Opened| -> Result<()> {
        trust
            .check_history(&opened.version(), expected.as_deref())
            .map_err(|why| {
                conflict(
                    path,
                    &format!("{name} side is not a genuine version of the vault: {why}"),
                )
            })
    };
    genuine("our", &ours)?;
    let side = |name: &str, ciphertext: &[u8]| -> Result<Option<Opened>> {
        if ciphertext.is_empty() {
            return Ok(None);
        }
        let opened = vault.open_ciphertext(ciphertext, context)?;
        genuine(name, &opened)?;
        Ok(Some(opened))
    };
    let base = side("the base", base)?;
    let theirs = side("their", theirs)?;
    let block_of = |d: &Document| d.membership().map(str::to_string);
    let base_block = match &base {
        Some(base) => block_of(&base.document),
        None => block_of(&ours.document),
    };
    let ours_block = block_of(&ours.document);
    let theirs_block = match &theirs {
        Some(theirs) => block_of(&theirs.document),
        None => base_block.clone(),
    };
    let epoch = |json: &Option<String>| {
        json.as_deref()
            .and_then(|j| Membership::parse(j).ok())
            .map(|b| b.body.epoch)
    };
    let ours_changed = ours_block != base_block;
    let theirs_changed = theirs_block != base_block;
    if ours_changed && theirs_changed && ours_block != theirs_block {
        return Err(conflict(
            path,
            "both branches changed who the vault is for; an owner settles it: take one side (git checkout --ours or --theirs), then make the other side's change again",
        ));
    }
    for (name, side, changed) in [
        ("our", &ours_block, ours_changed),
        ("their", &theirs_block, theirs_changed),
    ] {
        if changed && epoch(side) <= epoch(&base_block) {
            return Err(conflict(
                path,
                &format!("{name} side changed who the vault is for without a higher epoch"),
            ));
        }
    }
    let membership = if theirs_changed && !ours_changed {
        theirs_block
    } else {
        ours_block
    };
    // Whichever side it comes from — in a rebase, "ours" is the upstream branch — the
    // result is for a membership this machine trusts now, at or above its floor.
    let block = match membership.as_deref().map(Membership::parse) {
        Some(Ok(block)) => {
            trust.trusts_membership(&block).map_err(|why| {
                conflict(
                    path,
                    &format!("the merged vault would be for a membership this machine does not trust: {why}"),
                )
            })?;
            block
        }
        Some(Err(why)) => {
            return Err(conflict(
                path,
                &format!("a side's membership block is not valid: {why}"),
            ));
        }
        None => {
            return Err(conflict(
                path,
                "the vault has no membership block (version 1): write it once with this vault (any set), commit, and merge again",
            ));
        }
    };
    let base = match base {
        Some(base) => base.document,
        None => ours.document.empty_like(),
    };
    let (theirs, theirs_signed) = match theirs {
        Some(theirs) => (theirs.document, theirs.signed),
        None => (base.empty_like(), Signed::Unsigned),
    };
    // Whoever knows a passphrase vault's passphrase writes it: it has no members to hold
    // a side to.
    if !block.body.passphrase {
        for (name, document, signed) in [
            ("our", &ours.document, &ours.signed),
            ("their", &theirs, &theirs_signed),
        ] {
            let writer = match signed {
                Signed::Valid { writer } => writer.as_str(),
                _ => "",
            };
            if block.body.member_by_writer(writer).is_none() && !base.same_content(document)? {
                return Err(conflict(
                    path,
                    &format!(
                        "{name} side changed secrets, written by {}, who is not a member of the merged vault",
                        if writer.is_empty() {
                            "nobody known"
                        } else {
                            writer
                        }
                    ),
                ));
            }
        }
    }
    let generation = [base.generation, ours.document.generation, theirs.generation]
        .into_iter()
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    Ok(Sides {
        membership: (block.to_json(), block.body.recipients()),
        base,
        ours,
        theirs,
        generation,
    })
}

/// A merge stopped for a reason of trust: nothing is written or signed.
fn conflict(path: &str, why: &str) -> Error {
    Error::LockedOut(format!(
        "{path}: not merged: {why}; nothing was written or signed"
    ))
}

impl Sides {
    /// The merged document, for the membership and generation decided, encrypted as ours
    /// is and signed by this user, who must be a member of it.
    fn seal(&self, context: &Context, mut merged: Document, path: &str) -> Result<Vec<u8>> {
        let (json, recipients) = &self.membership;
        let own = context.own().map(|o| o.key.writer()).unwrap_or_default();
        let block = Membership::parse(json).map_err(|why| conflict(path, &why))?;
        self.reseal_group_values(context, &block, &mut merged, path)?;
        merged.set_membership(json.clone(), recipients.clone());
        if !block.body.passphrase && block.body.member_by_writer(&own).is_none() {
            return Err(conflict(
                path,
                "you are not a member of the merged vault, so you cannot sign the merge; a member merges it",
            ));
        }
        if let Some(expired) = crate::trust::policy::expired(&block, std::time::SystemTime::now()) {
            return Err(conflict(
                path,
                &format!(
                    "the vault's membership expired at {expired}; an owner renews it ('vault renew') first"
                ),
            ));
        }
        merged.generation = self.generation;
        Ok(context
            .vault()
            .seal_as(&merged, &self.ours.protection, self.ours.armored)?)
    }
}

impl Sides {
    /// Group values whose group the merge gave other members than the side they came from
    /// had (a member removed on one side, a value set on the other): sealed again for the
    /// merged members by this user, who must be one of them and able to open it as that
    /// side's membership says; otherwise the merge stops, naming the value. Never left
    /// readable by a removed member, and never refused later by every honest reader.
    fn reseal_group_values(
        &self,
        context: &Context,
        block: &Membership,
        merged: &mut Document,
        path: &str,
    ) -> Result<()> {
        let recipients_of = |body: &crate::store::membership::Body, group: &str| {
            let mut keys: Vec<String> = body
                .group_members(group)
                .unwrap_or_default()
                .iter()
                .map(|m| crate::store::recipients::key_part(&m.recipient))
                .collect();
            keys.sort();
            keys
        };
        let sides = [&self.ours.document, &self.theirs, &self.base];
        let opener = crate::commands::overlay::Opener::new(context);
        for (name, value) in merged.sealed().groups {
            let now_for = recipients_of(&block.body, &value.group);
            // The side whose value this is, and the members it was sealed for there.
            let Some(side) = sides
                .iter()
                .find(|d| d.sealed().groups.get(&name) == Some(&value))
            else {
                continue;
            };
            let side_block = side.membership().and_then(|j| Membership::parse(j).ok());
            let then_for = side_block
                .as_ref()
                .map(|b| recipients_of(&b.body, &value.group))
                .unwrap_or_default();
            if then_for == now_for {
                continue;
            }
            let stop = |why: &str| {
                conflict(
                    path,
                    &format!(
                        "{name}, a value of the group {}, was sealed for members the merge changes, and {why}; a member of {} merges, or sets it again after",
                        value.group, value.group
                    ),
                )
            };
            let signer = &context
                .own()
                .ok_or_else(|| stop("you have no writer key"))?
                .key;
            let me = signer.writer();
            if !block
                .body
                .group_members(&value.group)
                .unwrap_or_default()
                .iter()
                .any(|m| m.writer == me)
            {
                return Err(stop("you are not a member of it in the merged vault"));
            }
            let opened = opener
                .open_group(&value.ciphertext, &name, &value.group, side.membership())
                .map_err(|e| {
                    stop(&format!(
                        "it does not open as its side's membership says: {e}"
                    ))
                })?
                .ok_or_else(|| stop("it is not sealed to you"))?;
            let members: Vec<String> = block
                .body
                .group_members(&value.group)
                .unwrap_or_default()
                .iter()
                .map(|m| m.recipient.clone())
                .collect();
            let again = crate::store::sealed::seal(
                &name,
                &crate::store::sealed::group_scope(&value.group),
                &block.body.vault_id,
                &members,
                &opened,
                signer,
            )?;
            merged.reseal_group_value(&name, again);
            // Who it was sealed to there and is not now may have read it: stale for them.
            if let Some(side_block) = &side_block {
                for gone in then_for.iter().filter(|r| !now_for.contains(r)) {
                    let who = side_block
                        .body
                        .members
                        .iter()
                        .find(|m| crate::store::recipients::same_key(&m.recipient, gone))
                        .map_or_else(|| gone.clone(), |m| m.name.clone());
                    merged.record_stale(
                        &format!("{who} from group {} (merge)", value.group),
                        &timestamp_now(),
                        vec![name.clone()],
                    );
                }
            }
        }
        Ok(())
    }
}

pub(super) fn merge_driver(
    context: &Context,
    base: &Path,
    ours: &Path,
    theirs: &Path,
    path: &str,
) -> Result<u8> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io("read", p, e));
    let (base_text, ours_text, theirs_text) = (read(base)?, read(ours)?, read(theirs)?);
    let here = std::env::current_dir().unwrap_or_default();
    let root = PathBuf::from(git_text(&here, &["rev-parse", "--show-toplevel"])?);
    let sealed = open_sides(context, &root, path, (&base_text, &ours_text, &theirs_text)).and_then(
        |sides| {
            let merged = merge(
                &sides.base,
                &sides.ours.document,
                &sides.theirs,
                &BTreeMap::new(),
                &timestamp_now(),
            )?;
            if !merged.conflicts.is_empty() {
                return Ok(Err(merged.conflicts));
            }
            sides.seal(context, merged.document, path).map(Ok)
        },
    );
    let conflicts = match sealed {
        Ok(Ok(sealed)) => {
            write_atomic(ours, &sealed, false)?;
            return SUCCESS;
        }
        Ok(Err(conflicts)) => conflicts,
        // Stopped for a reason of trust: said, and git sees a conflict.
        Err(Error::LockedOut(message)) => {
            crate::commands::print_stderr(&message);
            return Ok(exit::ERROR);
        }
        Err(e) => return Err(e),
    };
    // Stopped: keep the three ciphertexts (nothing in plaintext), leave ours in place.
    let dir = pending_dir(&root)?;
    crate::store::fs::ensure_private_dir(&dir)?;
    write_atomic(&dir.join("base.age"), &base_text, false)?;
    write_atomic(&dir.join("ours.age"), &ours_text, false)?;
    write_atomic(&dir.join("theirs.age"), &theirs_text, false)?;
    let _ = std::fs::remove_file(dir.join("values.age"));
    let pending = Pending {
        path: path.to_string(),
        conflicts: conflicts.clone(),
        resolutions: BTreeMap::new(),
    };
    write_atomic(
        &dir.join("state.json"),
        &serde_json::to_vec_pretty(&pending).map_err(|e| Error::Failed(e.to_string()))?,
        false,
    )?;
    crate::commands::print_stderr(&format!(
        "{path}: secrets changed on both branches: {}; settle each with 'vault merge --resolve NAME --ours|--theirs|--value-from-stdin'",
        conflicts.join(", ")
    ));
    Ok(exit::ERROR)
}

pub fn resolve(context: &Context, args: &MergeArgs) -> Result<u8> {
    if args.resolve.is_some() {
        // Values typed here are kept for the next call, signed by this user.
        context.ensure_writer_key()?;
    }
    let (root, relative) = repository(context)?;
    let dir = pending_dir(&root)?;
    let state_path = dir.join("state.json");
    let mut pending: Pending = match std::fs::read(&state_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadData(format!("{}: {e}", state_path.display())))?,
        Err(_) => {
            // A merge git stopped without vault's driver left nothing here: say why.
            let hint = missing_setup(context)
                .map(|why| format!("; {why}, then 'git merge --abort' and merge again"))
                .unwrap_or_default();
            return Err(Error::NotFound(format!(
                "no merge of {relative} is waiting to be settled{hint}"
            )));
        }
    };
    // The stopped merge must be of this vault: the state names where its result goes.
    if pending.path != relative {
        return Err(Error::LockedOut(format!(
            "the stopped merge in {} is of {:?}, not of this vault ({relative}); nothing was changed",
            dir.display(),
            pending.path
        )));
    }
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| Error::io("read", &p, e))
    };
    let vault = context.vault();
    // Judged again as the driver judged them: these files sat in .git between calls.
    let sides = open_sides(
        context,
        &root,
        &pending.path,
        (&read("base.age")?, &read("ours.age")?, &read("theirs.age")?),
    )?;
    // Values typed for earlier conflicts, kept encrypted between calls.
    // Signed by this user when kept: anyone can encrypt to the vault's recipients.
    let own = context.own().map(|o| o.key.writer()).unwrap_or_default();
    let mut typed: BTreeMap<String, String> = match std::fs::read(dir.join("values.age")) {
        Ok(sealed) => {
            let plain = vault.unseal_plaintext(&sealed, context)?;
            if !crate::store::signature::signed_by(
                crate::store::signature::Domain::MergeValues,
                &plain,
                &own,
            ) {
                return Err(Error::LockedOut(format!(
                    "the values typed for the stopped merge ({}) are not signed by you; start the merge again (git merge --abort)",
                    dir.join("values.age").display()
                )));
            }
            serde_json::from_slice::<Typed>(&plain)
                .map_err(|e| Error::BadData(format!("the values typed for the merge: {e}")))?
                .values
        }
        Err(_) => BTreeMap::new(),
    };
    let Some(name) = &args.resolve else {
        let open: Vec<&String> = pending
            .conflicts
            .iter()
            .filter(|c| !pending.resolutions.contains_key(*c) && !typed.contains_key(*c))
            .collect();
        let text: String = open.iter().map(|c| format!("{c}\n")).collect();
        print_report(&text)?;
        return SUCCESS;
    };
    validate_name(name)?;
    if !pending.conflicts.contains(name) {
        return Err(Error::Usage(format!(
            "{name} is not in conflict; the conflicts are {}",
            pending.conflicts.join(", ")
        )));
    }
    if args.value_from_stdin {
        if let Some(why) = crate::merge::typed_value_refused(
            &sides.base,
            &sides.ours.document,
            &sides.theirs,
            name,
        )? {
            return Err(Error::Usage(why));
        }
        let bytes = read_stdin_limited(MAX_VALUE_BYTES + 2)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::BadData(format!("the value for {name} is not UTF-8")))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        validate_value(name, text)?;
        typed.insert(name.clone(), text.to_string());
        pending.resolutions.remove(name);
    } else if args.ours || args.theirs {
        pending.resolutions.insert(
            name.clone(),
            if args.ours { "ours" } else { "theirs" }.into(),
        );
        typed.remove(name);
    } else {
        return Err(Error::Usage(
            "say how: --ours, --theirs or --value-from-stdin".into(),
        ));
    }
    let mut resolutions: BTreeMap<String, Resolution> = pending
        .resolutions
        .iter()
        .map(|(n, side)| {
            let side = if side == "ours" {
                Resolution::Ours
            } else {
                Resolution::Theirs
            };
            (n.clone(), side)
        })
        .collect();
    for (n, value) in &typed {
        resolutions.insert(
            n.clone(),
            Resolution::Value(SecretString::from(value.clone())),
        );
    }
    let merged = merge(
        &sides.base,
        &sides.ours.document,
        &sides.theirs,
        &resolutions,
        &timestamp_now(),
    )?;
    if !merged.conflicts.is_empty() {
        // Keep the choice for the next call: sides in the state, values encrypted.
        let json = Zeroizing::new(
            serde_json::to_vec(&Typed { values: typed })
                .map_err(|e| Error::Failed(e.to_string()))?,
        );
        let json = crate::store::signature::sign_object(
            crate::store::signature::Domain::MergeValues,
            context.own().map(|o| &o.key),
            &json,
        )
        .map_err(|e| Error::Failed(format!("cannot sign the values typed: {e}")))?;
        // To the members of the result: a member the merge removes never gets values
        // typed while it stood.
        let sealed = Vault::seal_plaintext(&json, &sides.membership.1, &sides.ours.protection)?;
        write_atomic(&dir.join("values.age"), &sealed, false)?;
        write_atomic(
            &state_path,
            &serde_json::to_vec_pretty(&pending).map_err(|e| Error::Failed(e.to_string()))?,
            false,
        )?;
        context.note(&format!(
            "settled {name}; still in conflict: {}",
            merged.conflicts.join(", ")
        ));
        return SUCCESS;
    }
    let sealed = sides.seal(context, merged.document, &pending.path)?;
    write_atomic(&root.join(&pending.path), &sealed, false)?;
    let _ = std::fs::remove_dir_all(&dir);
    context.note(&format!(
        "every conflict is settled and {} is merged; now: git add {} && git commit",
        pending.path, pending.path
    ));
    SUCCESS
}
