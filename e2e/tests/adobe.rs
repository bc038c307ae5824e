//! The page's Experience Cloud ID, in the browser: where the shop runs
//! Adobe's Web SDK or Visitor API (stand-ins answering as Adobe documents)
//! and the site tells Adobe's Privacy Service, a visitor's choice reaches
//! Privacy Service for this browser's ECID, signed in or not; where the
//! page runs neither, nothing is read or sent.

use std::time::Duration;

use ccpa_proxy::config::Settings;
use e2e::{Browser, PATIENCE, PageOptions, STAND_IN_ECID, Stack, open_page};

const SWITCH: &str = "[data-testid=ccpa-optout-switch]";

/// The proxy tells the emulator's Privacy Service.
fn telling(settings: &mut Settings) {
    settings.privacy_service.enabled = true;
    settings.privacy_service.base_url = settings.campaign.base_url.clone();
    settings.privacy_service.ims_org = Some(campaign_emulator::DEMO_IMS_ORG.into());
}

fn running(library: &str) -> PageOptions {
    PageOptions {
        adobe: Some(library.into()),
        ..PageOptions::default()
    }
}

/// `optOutOfSale` of each consent Privacy Service took for the ECID.
fn told_for_the_ecid(stack: &Stack) -> Vec<bool> {
    stack
        .emulator
        .consents()
        .iter()
        .filter(|c| {
            c.entities
                .iter()
                .any(|e| e.name_space == "ECID" && e.values == [STAND_IN_ECID])
        })
        .map(|c| c.opt_out_of_sale)
        .collect()
}

async fn told_until(stack: &Stack, expected: &[bool]) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while told_for_the_ecid(stack) != expected {
        assert!(
            std::time::Instant::now() < deadline,
            "Privacy Service was told {:?} for the ECID, not {expected:?}",
            told_for_the_ecid(stack)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn flip(browser: &Browser, to: bool) {
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(to).await;
}

/// Signed out, on a page running Adobe's Web SDK: the switch opts this
/// browser out, and back in, at Adobe too.
#[tokio::test]
async fn a_visitor_without_an_account_reaches_privacy_service_through_the_web_sdk() {
    let stack = Stack::start_with(telling).await;
    let browser = open_page(&stack, "anonymous", &running("web-sdk")).await;
    browser.wait_for_state("ready").await;
    flip(&browser, true).await;
    told_until(&stack, &[true]).await;
    flip(&browser, false).await;
    told_until(&stack, &[true, false]).await;
    assert_eq!(stack.emulator.stats().patches, 0, "no Campaign profile");
}

/// Signed in, on a page running the older Visitor API: the customer's
/// opt-out reaches Campaign and, for this browser, Privacy Service.
#[tokio::test]
async fn a_signed_in_customer_reaches_privacy_service_through_the_visitor_api() {
    let stack = Stack::start_with(telling).await;
    let browser = open_page(&stack, "CUST-1001", &running("visitor-api")).await;
    browser.wait_for_state("ready").await;
    flip(&browser, true).await;
    told_until(&stack, &[true]).await;
    let profile = stack.emulator.profile("CUST-1001").unwrap();
    assert!(profile.ccpa_opt_out, "Campaign has it too");
}

/// A page that runs neither library: nothing is read, nothing is told.
#[tokio::test]
async fn a_page_without_adobes_libraries_sends_no_ecid() {
    let stack = Stack::start_with(telling).await;
    let browser = open_page(&stack, "anonymous", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    flip(&browser, true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stack.emulator.consents().is_empty());
}

/// Global Privacy Control, signed out, on a page running the Web SDK: the
/// browser's opt-out reaches Privacy Service without a click.
#[tokio::test]
async fn global_privacy_control_without_an_account_reaches_privacy_service() {
    let stack = Stack::start_with(telling).await;
    let browser = Browser::start().await;
    browser.enable_gpc().await;
    browser
        .goto(&stack.page_with("anonymous", &running("web-sdk")))
        .await;
    browser.wait_for_state("ready").await;
    // The first answer says the proxy tells Adobe; the ECID goes from then
    // on: with the next page's read.
    browser.client.refresh().await.unwrap();
    browser.wait_for_state("ready").await;
    told_until(&stack, &[true]).await;
}
